"""A registry killed (SIGKILL) at any instant while committing a batch leaves its store holding the
batch whole or not at all, offsets included: the state before the commit or the state after it,
never a mix. The kill is real: a forked child commits a batch, with an SQLite progress handler that
kills it after a chosen number of virtual-machine steps, at every step of the commit in turn."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from credverify.core.timefmt import to_timestamp
from credverify.core.topics import Topics
from credverify.core.trust import TrustList
from credverify.registry.adapters import sqlite_store
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore
from credverify.registry.ingest import IncomingRecord, commit_batch, judge_records, load_trust
from credverify.registry.ports import IngestBatch
from credverify.v1 import trust_pb2
from tests.factories import ROOTS, T0, attestation_bytes, fixed_signer, kenya_issuer_record, nurse, record_bytes

TOPICS = Topics()
COMPROMISED_AT = T0 + dt.timedelta(days=1)
# Progress handler granularity, in SQLite virtual-machine instructions: a kill point every this many.
STEP = 20

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork() to kill a committing process")


def first_batch() -> list[IncomingRecord]:
    records = [IncomingRecord(TOPICS.trust_list, 0, 0, b"KE-NCK", record_bytes(kenya_issuer_record()))]
    for n in range(40):  # every other one issued after the compromise the second batch reports
        value = attestation_bytes(nurse(str(n)), now=T0 + dt.timedelta(days=10 * (n % 2)))
        records.append(IncomingRecord(TOPICS.attestations, n % 3, n // 3, b"KE-NCK/%d" % n, value))
    return records


def second_batch() -> list[IncomingRecord]:
    """A key compromise that withdraws half of what is stored, new attestations, and bad records."""
    compromised = trust_pb2.IssuerRecord()
    compromised.CopyFrom(kenya_issuer_record())
    compromised.version += 1
    compromised.keys[0].compromised_at.CopyFrom(to_timestamp(COMPROMISED_AT))
    records = [IncomingRecord(TOPICS.trust_list, 0, 1, b"KE-NCK", record_bytes(compromised))]
    offset = 100
    for n in range(40, 70):
        records.append(IncomingRecord(TOPICS.attestations, n % 3, offset, b"KE-NCK/%d" % n,
                                      attestation_bytes(nurse(str(n)), now=T0)))
        offset += 1
    records.append(IncomingRecord(TOPICS.attestations, 0, offset, b"KE-NCK/junk", b"\x00junk"))
    records.append(IncomingRecord(TOPICS.attestations, 1, offset, b"KE-NCK/stranger",
                                  attestation_bytes(nurse("stranger"), signer=fixed_signer("not yet listed"))))
    return records


def snapshot(path: Path) -> tuple[object, ...]:
    conn = sqlite3.connect(path)
    try:
        return (
            tuple(conn.execute("SELECT topic, partition, next_offset FROM offsets ORDER BY topic, partition")),
            tuple(conn.execute("SELECT credential_id, version, trust_reason FROM attestations ORDER BY 1")),
            conn.execute("SELECT COUNT(*) FROM rejections").fetchone(),
            tuple(conn.execute("SELECT record_key FROM parked_records ORDER BY 1")),
            tuple(conn.execute("SELECT issuer_id, version FROM issuers")),
        )
    finally:
        conn.close()


def judged_second_batch(pristine: Path) -> tuple[IngestBatch, TrustList]:
    store = SqliteAttestationStore(pristine)
    trust = load_trust(store, ROOTS)
    batch = judge_records(second_batch(), topics=TOPICS, trust=trust, roots=ROOTS, store=store)
    store.close()  # no connection may cross the fork
    return batch, trust


def commit_in_child(path: Path, judged: tuple[IngestBatch, TrustList], kill_after_steps: int | None) -> int:
    """Fork; the child commits the judged second batch to ``path`` and is SIGKILLed at the given
    progress-handler call (never, with None). Returns the child's wait status; when it was not killed,
    its exit code is the number of handler calls it made."""
    batch, trust = judged
    pid = os.fork()
    if pid == 0:  # the child: never returns
        try:
            store = SqliteAttestationStore(path)
            calls = 0

            def progress() -> int:
                nonlocal calls
                calls += 1
                if kill_after_steps is not None and calls >= kill_after_steps:
                    os.kill(os.getpid(), signal.SIGKILL)
                return 0

            store._conn().set_progress_handler(progress, STEP)
            commit_batch(batch, store=store)
            os._exit(min(calls, 249))
        except BaseException:  # noqa: BLE001 - the child must never return into pytest
            os._exit(250)
    _, status = os.waitpid(pid, 0)
    return status


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """(a pristine store holding the first batch, a working copy path)."""
    pristine = tmp_path / "pristine.db"
    store = SqliteAttestationStore(pristine)
    trust = load_trust(store, ROOTS)
    commit_batch(judge_records(first_batch(), topics=TOPICS, trust=trust, roots=ROOTS, store=store),
                 store=store)
    store.seal()
    yield pristine, tmp_path / "work.db"


def fresh_copy(pristine: Path, work: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(work) + suffix).unlink(missing_ok=True)
    shutil.copyfile(pristine, work)


def crash_sweep(pristine: Path, work: Path) -> list[str]:
    """Kill a committing child at every progress call of the commit in turn; return what went wrong."""
    before = snapshot(pristine)
    judged = judged_second_batch(pristine)
    fresh_copy(pristine, work)
    status = commit_in_child(work, judged, None)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) < 249, "the commit failed, or is too long to sweep"
    after = snapshot(work)
    assert after != before
    total_calls = os.WEXITSTATUS(status)
    problems = []
    for point in range(1, total_calls + 1):
        fresh_copy(pristine, work)
        status = commit_in_child(work, judged, point)
        assert os.WIFSIGNALED(status), "the child at step %d was not killed" % point
        if snapshot(work) not in (before, after):
            problems.append("killed after %d steps: the store holds a mix of before and after" % (point * STEP))
    return problems


def test_a_commit_killed_at_any_instant_leaves_the_batch_whole_or_absent(stores: tuple[Path, Path]) -> None:
    assert crash_sweep(*stores) == []


@contextmanager
def offsets_committed_apart_from_state() -> Iterator[None]:
    """A deliberately wrong store: state committed first, offsets in a transaction of their own."""
    original = sqlite_store.SqliteTransaction.set_offsets

    def split(self: sqlite_store.SqliteTransaction, next_offsets):  # type: ignore[no-untyped-def]
        self._conn.commit()
        self._conn.execute("BEGIN IMMEDIATE")
        original(self, next_offsets)

    sqlite_store.SqliteTransaction.set_offsets = split  # type: ignore[method-assign]
    try:
        yield
    finally:
        sqlite_store.SqliteTransaction.set_offsets = original  # type: ignore[method-assign]


def test_the_sweep_catches_offsets_committed_apart_from_the_state(stores: tuple[Path, Path]) -> None:
    with offsets_committed_apart_from_state():
        problems = crash_sweep(*stores)
    assert problems, "a store committing offsets apart from the state must fail the crash sweep"
