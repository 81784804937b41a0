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
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from credverify.core.adapters.kafka import ConfirmingProducer, partitions_of
from credverify.core.errors import ConfigurationError, CredverifyError
from credverify.core.settings import KafkaSettings
from credverify.core.trust import RootKeys
from credverify.registry.adapters.kafka_ingest import KafkaIngestor
from credverify.registry.adapters.sqlite_store import SqliteAttestationStore

logger = logging.getLogger(__name__)

SQLITE_SIDE_FILES = ("-wal", "-shm", "-journal")


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


def _check_topics(kafka: KafkaSettings) -> None:
    missing = [t for t in (kafka.topics.trust_list, kafka.topics.attestations)
               if not partitions_of(kafka, t, client_id="credverify-rebuild")]
    if missing:
        raise ConfigurationError("topic %s does not exist on %s: nothing to rebuild from" % (
            " and ".join(missing), kafka.bootstrap_servers))


def rebuild(
    kafka: KafkaSettings,
    *,
    store_path: Path,
    roots: RootKeys,
    overwrite: bool,
    publish_dead_letters: bool,
    stop: threading.Event | None = None,
) -> RebuildSummary:
    """Build the store at ``store_path`` from offset 0 of the trust list and attestation topics.

    Returns a summary. Raises ConfigurationError when ``store_path`` exists and ``overwrite`` is
    false, or the topics do not exist; RebuildIncomplete when ``stop`` was set before the end.
    """
    if store_path.exists() and not overwrite:
        raise ConfigurationError("store %s exists already: pass --force to replace it" % store_path)
    if not store_path.parent.is_dir():
        raise ConfigurationError("cannot build %s: folder %s does not exist" % (store_path, store_path.parent))
    _check_topics(kafka)
    partial = store_path.with_name(store_path.name + ".partial")
    _remove_database(partial)
    store = SqliteAttestationStore(partial)
    producer = (ConfirmingProducer(kafka, client_id="credverify-rebuild")
                if publish_dead_letters else None)
    ingestor = KafkaIngestor(kafka, store=store, roots=roots, dead_letters=producer)
    started = time.monotonic()
    try:
        ingestor.run(stop or threading.Event(), until_end=True)
    finally:
        if producer is not None:
            producer.close()
    seconds = time.monotonic() - started
    if not ingestor.reached_end:
        store.close()
        raise RebuildIncomplete("rebuild stopped after %d records; %s was left as it was" % (
            ingestor.records_seen, store_path))
    counts = store.counts()
    store.seal()
    # A stale write-ahead log beside the old file would be replayed into the new one: remove it first.
    for suffix in SQLITE_SIDE_FILES:
        (store_path.parent / (store_path.name + suffix)).unlink(missing_ok=True)
    os.replace(partial, store_path)
    return RebuildSummary(
        store=store_path, records=ingestor.records_seen, attestations=counts["attestations"],
        untrusted=counts["untrusted"], rejections=counts["rejections"], parked=counts["parked"],
        issuers=counts["issuers"], seconds=seconds,
    )
