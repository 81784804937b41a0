"""`credverify registry rebuild`: replay both compacted topics from offset 0 into a fresh store.

The store is built beside its final name, as ``<store>.partial``, and moved into place only once
every partition has been read to the end offset it had when the rebuild started; an interrupted
rebuild therefore never leaves a half-built store where a registry would open it (the next run
starts the partial file afresh). Memory stays bounded whatever the topics hold: records are
streamed one poll at a time, and each poll is committed in its own transaction with its offsets,
so a registry started on the new store resumes exactly where the rebuild stopped.

The trust list is read to its end before any attestation is judged, so every attestation is judged
under the newest issuer records. Rejections are recorded in the new store; dead letters are not
sent again unless asked for, because the registry that first refused the records sent them.

In parallel (``processes`` above 1). Reading the trust list first is what makes the attestations
divisible: every version of a credential is in one partition (records are placed by their key, the
credential id, and a credential's revocation or supersession is a new version under the same key), and
what decides a verdict besides the credential's own versions is the trust list, which by then is in
the store. So after the trust list, each of ``processes`` processes (started afresh, not forked: Kafka
clients hold threads and sockets) loads the trust list from the store and reads a disjoint share of
the attestation partitions to its end, writing to the same SQLite file: SQLite lets one writer in at
a time, so each commit waits for the others' (a few milliseconds for a poll's records), while the
parsing and signature checks, most of the work, run side by side. The store is the same as one
process builds: the same attestations, verdicts, issuer records, rejections, parked records and
offsets (row ids and times of writing aside).
"""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.queues
import os
import queue
import signal
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from credverify.core.adapters.kafka import ConfirmingProducer, partitions_of
from credverify.core.errors import ConfigurationError, CredverifyError
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys
from credverify.registry.adapters.kafka_ingest import VERIFY_THREADS, KafkaIngestor, Share
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore

logger = logging.getLogger(__name__)

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")
# More ingest processes than this is a typing error rather than a plan (the world hub's topic has 24
# partitions, docs/scale.md); fewer partitions than processes leaves the extra ones nothing to read.
MAX_PROCESSES = 64
# How often the parent looks at its children while they ingest.
WATCH_INTERVAL_S = 0.5


class RebuildIncomplete(CredverifyError):
    """The rebuild stopped before reaching the end of the topics; the target was left untouched."""


@dataclass(frozen=True)
class RebuildSummary:
    store: Path
    records: int
    attestations: int
    untrusted: int
    rejections: int
    parked: int
    issuers: int
    seconds: float

    def describe(self) -> str:
        return ("rebuilt %s: %d attestations (%d no longer trusted), %d issuer records, %d rejected records "
                "(%d parked awaiting an issuer record); %d records read in %.1f s" % (
                    self.store, self.attestations, self.untrusted, self.issuers, self.rejections, self.parked,
                    self.records, self.seconds))


def _remove_database(path: Path) -> None:
    for name in (path.name, *(path.name + suffix for suffix in SQLITE_SIDE_FILES)):
        (path.parent / name).unlink(missing_ok=True)


def _check_topics(kafka: KafkaSettings) -> list[int]:
    """Return the partition ids of the attestations topic. Raises ConfigurationError when it or the
    trust list does not exist."""
    found = {t: partitions_of(kafka, t, client_id="credverify-rebuild")
             for t in (kafka.topics.trust_list, kafka.topics.attestations)}
    missing = [t for t, ids in found.items() if not ids]
    if missing:
        raise ConfigurationError("topic %s does not exist on %s: nothing to rebuild from" % (
            " and ".join(missing), kafka.bootstrap_servers))
    return sorted(found[kafka.topics.attestations])


def _check_request(store_path: Path, *, overwrite: bool, processes: int) -> None:
    if not 1 <= processes <= MAX_PROCESSES:
        raise ConfigurationError("processes: expected a whole number from 1 to %d, found %r" % (
            MAX_PROCESSES, processes))
    if store_path.exists() and not overwrite:
        raise ConfigurationError("store %s exists already: pass --force to replace it" % store_path)
    if not store_path.parent.is_dir():
        raise ConfigurationError("cannot build %s: folder %s does not exist" % (store_path, store_path.parent))


def shares(partitions: list[int], processes: int) -> list[frozenset[int]]:
    """Deal ``partitions`` round-robin into at most ``processes`` disjoint, non-empty shares."""
    count = max(1, min(processes, len(partitions)))
    return [frozenset(partitions[i::count]) for i in range(count)]


@dataclass
class _Phase:
    records: int = 0
    reached_end: bool = True


def rebuild(
    kafka: KafkaSettings,
    *,
    store_path: Path,
    roots: RootKeys,
    overwrite: bool,
    publish_dead_letters: bool,
    stop: threading.Event | None = None,
    processes: int = 1,
) -> RebuildSummary:
    """Build the store at ``store_path`` from offset 0 of the trust list and attestation topics, the
    attestation partitions shared among ``processes`` processes (1: this one alone).

    Returns a summary. Raises ConfigurationError when ``store_path`` exists and ``overwrite`` is
    false, the topics do not exist or ``processes`` is out of range; RebuildIncomplete when ``stop``
    was set (or an ingest process died) before the end.
    """
    _check_request(store_path, overwrite=overwrite, processes=processes)
    partitions = _check_topics(kafka)
    partial = store_path.with_name(store_path.name + ".partial")
    _remove_database(partial)
    store = SqliteAttestationStore(partial)
    stop = stop or threading.Event()
    started = time.monotonic()
    try:
        trust, attestations = _phases(kafka, store, roots, partitions, processes, publish_dead_letters, stop)
    except BaseException:
        store.close()
        raise
    seconds = time.monotonic() - started
    records = trust.records + attestations.records
    if not attestations.reached_end:
        store.close()
        raise RebuildIncomplete("rebuild stopped after %d records; %s was left as it was" % (records, store_path))
    counts = store.counts()
    store.seal()
    # A stale write-ahead log beside the old file would be replayed into the new one: remove it first.
    for suffix in SQLITE_SIDE_FILES:
        (store_path.parent / (store_path.name + suffix)).unlink(missing_ok=True)
    os.replace(partial, store_path)
    return RebuildSummary(
        store=store_path, records=records, attestations=counts["attestations"],
        untrusted=counts["untrusted"], rejections=counts["rejections"], parked=counts["parked"],
        issuers=counts["issuers"], seconds=seconds,
    )


def _phases(kafka: KafkaSettings, store: SqliteAttestationStore, roots: RootKeys, partitions: list[int],
            processes: int, publish_dead_letters: bool, stop: threading.Event) -> tuple[_Phase, _Phase]:
    """(1) the trust list, to its end; (2) the attestations, in disjoint shares. Return what each read."""
    trust = _ingest(kafka, store, roots, Share(trust_list=True, attestations=frozenset()), publish_dead_letters, stop)
    if not trust.reached_end:
        return trust, _Phase(reached_end=False)
    if processes == 1:
        return trust, _ingest(kafka, store, roots, Share(trust_list=False), publish_dead_letters, stop)
    return trust, _ingest_in_processes(kafka, store.path, roots, shares(partitions, processes),
                                       publish_dead_letters, stop)


def _ingest(kafka: KafkaSettings, store: SqliteAttestationStore, roots: RootKeys, share: Share,
            publish_dead_letters: bool, stop: threading.Event, verify_threads: int = VERIFY_THREADS) -> _Phase:
    """Read ``share`` from the positions ``store`` holds to the ends the partitions have now."""
    producer = (ConfirmingProducer(kafka, client_id="credverify-rebuild")
                if publish_dead_letters else None)
    ingestor = KafkaIngestor(kafka, store=store, roots=roots, dead_letters=producer, share=share,
                             verify_threads=verify_threads)
    try:
        ingestor.run(stop, until_end=True)
    finally:
        if producer is not None:
            producer.close()
    return _Phase(ingestor.records_seen, ingestor.reached_end)


def _ingest_in_processes(kafka: KafkaSettings, store_path: Path, roots: RootKeys, parts: list[frozenset[int]],
                         publish_dead_letters: bool, stop: threading.Event) -> _Phase:
    """Run one process per share in ``parts``, each writing to ``store_path``; return what they read
    together, reached_end False unless every one of them read its share to the end."""
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.queues.Queue[tuple[int, int, bool]] = context.Queue()
    keys = {keyid: key.public_bytes_raw() for keyid, key in roots.keys.items()}
    # The cores shared out: each process checks signatures on threads of its own.
    threads = max(1, (os.cpu_count() or 1) // len(parts))
    children = []
    for index, share in enumerate(parts):
        children.append(context.Process(
            target=_ingest_share, name="rebuild-%d" % index,
            args=(index, kafka, store_path, keys, share, publish_dead_letters, threads, results,
                  logging.getLogger().level)))
        children[-1].start()
    logger.info("rebuilding with %d processes, attestation partitions %s", len(parts),
                " | ".join(",".join(map(str, sorted(share))) for share in parts))
    reports: dict[int, tuple[int, bool]] = {}
    try:
        _collect(children, results, reports, stop=stop)
    finally:
        _stop(children)
        for child in children:
            child.join()
    for index in set(range(len(children))) - set(reports):
        logger.error("ingest process %d (partitions %s) exited with %s before reporting",
                     index, ",".join(map(str, sorted(parts[index]))), children[index].exitcode)
    return _Phase(records=sum(records for records, _ in reports.values()),
                  reached_end=len(reports) == len(children) and all(done for _, done in reports.values()))


def _collect(children: Sequence[multiprocessing.process.BaseProcess],
             results: multiprocessing.queues.Queue[tuple[int, int, bool]], reports: dict[int, tuple[int, bool]], *,
             stop: threading.Event) -> None:
    """Gather each child's report into ``reports``; tell them all to stop when ``stop`` is set or one
    exits without reporting (the others' work would be wasted: the rebuild is incomplete)."""
    while len(reports) < len(children):
        if stop.is_set():
            _stop(children)
        try:
            index, records, reached_end = results.get(timeout=WATCH_INTERVAL_S)
            reports[index] = (records, reached_end)
        except queue.Empty:
            if any(c.exitcode is not None and i not in reports for i, c in enumerate(children)):
                _stop(children)
                _drain(results, reports, len(children))
                return


def _drain(results: multiprocessing.queues.Queue[tuple[int, int, bool]], reports: dict[int, tuple[int, bool]],
           expected: int) -> None:
    """Collect the reports still to come from children that were told to stop."""
    deadline = time.monotonic() + 60
    while len(reports) < expected and time.monotonic() < deadline:
        try:
            index, records, reached_end = results.get(timeout=WATCH_INTERVAL_S)
        except queue.Empty:
            continue
        reports[index] = (records, reached_end)


def _stop(children: Sequence[multiprocessing.process.BaseProcess]) -> None:
    """Ask the children still running to stop after their current transaction (SIGTERM)."""
    for child in children:
        if child.exitcode is None:
            child.terminate()


def _ingest_share(index: int, kafka: KafkaSettings, store_path: Path, keys: dict[str, bytes], share: frozenset[int],
                  publish_dead_letters: bool, verify_threads: int,
                  results: multiprocessing.queues.Queue[tuple[int, int, bool]], log_level: int) -> None:
    """In an ingest process: read ``share`` of the attestation partitions into ``store_path`` under the
    trust list it holds; report (index, records read, whether the end was reached)."""
    logging.basicConfig(level=log_level)
    roots = RootKeys({keyid: Ed25519PublicKey.from_public_bytes(raw) for keyid, raw in keys.items()})
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())  # the parent's _stop
    store = SqliteAttestationStore(store_path)
    try:
        phase = _ingest(kafka, store, roots, Share(trust_list=False, attestations=share), publish_dead_letters,
                        stopping, verify_threads)
    finally:
        store.close()
    results.put((index, phase.records, phase.reached_end))
