"""Rebuild figures: `credverify registry rebuild` with one and with two ingest processes over the same
corpus in the same run, and what merging shards would cost instead of sharing one store file.

The corpus is the registry ingest benchmark's (one issuer record, 50,000 attestations; 1,000,000
with --full), published once per run and broker, so `registry.rebuild_s` and these figures read
the same topics.
"""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from bench_registry import INGEST_ATTESTATIONS, REBUILD_ATTESTATIONS_FULL, Corpus, _corpus, _work_dir
from benchkit import BenchContext, benchmark

from credverify.registry.adapters.sqlite_store import SqliteAttestationStore

logger = logging.getLogger("bench")

PROCESSES = (1, 2)
# The tables a rebuild fills, copied when shards are merged.
MERGED_TABLES = ("issuers", "attestations", "rejections", "parked_records", "parked_keyids", "offsets")


def rebuild_seconds(ctx: BenchContext, corpus: Corpus, work: Path, processes: int) -> float:
    """Run `credverify registry rebuild --processes N` over ``corpus`` into a fresh store in ``work``;
    return the wall time of the whole command. Raises RuntimeError when it fails or stores fewer
    attestations than the corpus holds."""
    store = work / ("rebuilt-%d.db" % processes)
    log = work / ("rebuild-%d.log" % processes)
    with open(log, "wb") as out:
        started = time.perf_counter()
        returncode = subprocess.call(
            [sys.executable, "-m", "credverify.cli", "--log-level", "WARNING", "registry", "rebuild",
             "--store", str(store), "--root-key", "root.pub.pem", "--processes", str(processes)],
            env=ctx.child_env(corpus.kafka.topics.prefix), cwd=work, stdout=out, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - started
    output = log.read_text(errors="replace")
    if returncode != 0:
        raise RuntimeError("rebuild --processes %d exited with %d:\n%s" % (processes, returncode, output[-3000:]))
    stored = _count(store, "attestations")
    if stored != corpus.count:
        raise RuntimeError("the store rebuilt with %d process(es) holds %d of %d attestations:\n%s" % (
            processes, stored, corpus.count, output[-3000:]))
    logger.info("rebuild of %d attestations with %d process(es): %.1f s", corpus.count, processes, seconds)
    return seconds


def _count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM %s" % table).fetchone()[0])
    finally:
        conn.close()


def merge_seconds(source: Path, target: Path) -> float:
    """Copy every row a rebuild wrote in ``source`` into a fresh store at ``target`` (its indexes
    maintained as rows arrive), as a parent merging one shard per process would; return the time."""
    SqliteAttestationStore(target).close()
    conn = sqlite3.connect(target)
    try:
        started = time.perf_counter()
        conn.execute("ATTACH DATABASE ? AS shard", (str(source),))
        with conn:
            for table in MERGED_TABLES:
                conn.execute("INSERT INTO main.%s SELECT * FROM shard.%s" % (table, table))
        return time.perf_counter() - started
    finally:
        conn.close()


@benchmark("registry.rebuild_s_1proc", "registry.rebuild_s_2proc", "registry.rebuild_2_over_1",
           "registry.rebuild_merge_s", "registry.rebuild_parallel_attestations")
def bench_registry_rebuild_parallel(ctx: BenchContext) -> dict[str, float]:
    """`credverify registry rebuild` with 1 and then 2 ingest processes over the same corpus (50,000
    attestations; 1,000,000 with --full): wall time of each whole command and the speed-up of two
    over one. The two processes write to one SQLite file, one commit at a time; the other design,
    a shard file per process merged at the end, would add at least ``registry.rebuild_merge_s``:
    copying the rows of the one-process store into a fresh one."""
    corpus = _corpus(ctx, REBUILD_ATTESTATIONS_FULL if ctx.full else INGEST_ATTESTATIONS)
    work = _work_dir(ctx, "rebuild-parallel")
    (work / "root.pub.pem").write_text(corpus.root_pem)
    seconds = {n: rebuild_seconds(ctx, corpus, work, n) for n in PROCESSES}
    merge = merge_seconds(work / "rebuilt-1.db", work / "merged.db")
    return {
        "registry.rebuild_s_1proc": seconds[1],
        "registry.rebuild_s_2proc": seconds[2],
        "registry.rebuild_2_over_1": seconds[1] / seconds[2],
        "registry.rebuild_merge_s": merge,
        "registry.rebuild_parallel_attestations": corpus.count,
    }
