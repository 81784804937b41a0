"""A dead letter always fits what the producer and the broker accept, and still names the original;
a stall of ingest is seen; the store keeps bounded what anyone writing to the hub can make it hold."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

from credverify.registry.adapters import sqlite_store
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.dead_letters import MAX_DEAD_LETTER_BYTES, MAX_DEAD_LETTER_VALUE_BYTES, dead_letter
from credverify.registry.ports import ParkedRecord, Rejection
from credverify.registry.stall import StallWatch
from credverify.v1 import common_pb2

BROKER_DEFAULT_MESSAGE_MAX_BYTES = 1_048_588


def rejection(offset: int = 7, key: str = "KE-NCK/1") -> Rejection:
    return Rejection(key, common_pb2.REASON_OVERSIZED, "envelope of 1048388 bytes exceeds the limit of 65536",
                     "credverify.attestations.v1", 2, offset)


def test_a_dead_letter_of_a_record_at_the_brokers_limit_is_cut_and_names_the_original_by_digest() -> None:
    value = os.urandom(1_048_388)
    key = b"K" * 5000
    dead = dead_letter(rejection(), key=key, value=value, rejected_at=Timestamp(seconds=1))
    assert dead.ByteSize() <= MAX_DEAD_LETTER_BYTES < BROKER_DEFAULT_MESSAGE_MAX_BYTES // 10
    assert dead.truncated and dead.value == value[:MAX_DEAD_LETTER_VALUE_BYTES]
    assert dead.value_sha256 == hashlib.sha256(value).digest() and dead.value_size == len(value)
    assert dead.key_sha256 == hashlib.sha256(key).digest() and dead.key_size == 5000 and len(dead.key) == 1024
    assert (dead.source_topic, dead.partition, dead.offset) == ("credverify.attestations.v1", 2, 7)


def test_a_dead_letter_of_an_ordinary_bad_record_carries_it_whole() -> None:
    dead = dead_letter(rejection(), key=b"KE-NCK/1", value=b"\x00junk", rejected_at=Timestamp(seconds=1))
    assert not dead.truncated and dead.value == b"\x00junk" and dead.key == b"KE-NCK/1"


def test_ingest_with_lag_and_no_progress_for_the_set_time_is_stalled() -> None:
    watch = StallWatch(stall_after_s=60)
    assert not watch.observe(lag=5, progress=1, now=0)
    assert not watch.observe(lag=5, progress=1, now=59)
    assert watch.observe(lag=5, progress=1, now=60)
    assert "5 record(s)" in watch.describe() and "60 s" in watch.describe()
    assert not watch.observe(lag=5, progress=2, now=61), "progress clears the stall"
    assert not watch.observe(lag=0, progress=2, now=500), "nothing to do is no stall"
    assert not watch.observe(lag=1, progress=2, now=510), "a record that just arrived is no stall"
    assert watch.observe(lag=1, progress=2, now=570)


def test_the_store_file_is_readable_by_its_owner_alone(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        store = SqliteAttestationStore(tmp_path / "registry.db")
    finally:
        os.umask(old)
    store.close()
    assert stat.S_IMODE((tmp_path / "registry.db").stat().st_mode) == 0o600


def test_rejections_kept_and_read_per_id_are_bounded(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sqlite_store, "MAX_REJECTIONS_KEPT", 100)
    store = SqliteAttestationStore(tmp_path / "registry.db")
    with store.transaction() as tx:
        tx.add_rejections(rejection(offset=n) for n in range(250))
    assert store.counts()["rejections"] == 100
    found = store.rejections_for("KE-NCK/1")
    assert len(found) == sqlite_store.MAX_REJECTIONS_PER_ID and found[-1].offset == 249


def test_a_parked_record_is_stored_once_whatever_the_keyids_and_the_oldest_go_beyond_the_bound(
        tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(sqlite_store, "MAX_PARKED_KEPT", 3)
    store = SqliteAttestationStore(tmp_path / "registry.db")
    keyids = tuple("%064x" % n for n in range(16))
    with store.transaction() as tx:
        for n in range(5):
            tx.park([ParkedRecord(record_key="KE-NCK/%d" % n, reason=common_pb2.REASON_ISSUER_UNKNOWN, detail="",
                                  topic="t", partition=0, offset=n, envelope_bytes=b"e" * 1000, keyids=keyids)])
    assert store.counts()["parked"] == 3
    conn = store._conn()
    assert conn.execute("SELECT COUNT(*) FROM parked_records").fetchone()[0] == 3
    assert conn.execute("SELECT COUNT(DISTINCT record_key) FROM parked_keyids").fetchone()[0] == 3
    with store.transaction() as tx:
        page = tx.parked_signed_with([keyids[3]], after="", limit=10)
    assert [p.record_key for p in page] == ["KE-NCK/2", "KE-NCK/3", "KE-NCK/4"]
