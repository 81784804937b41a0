"""Registry figures: Verify throughput and latency over gRPC, and how fast a status change propagates.

Each benchmark publishes its own federation (a root key, one issuer, signed
attestations) to topics of its own, so it measures the registry as a destination
regulator would meet it: real Kafka, a real SQLite file, gRPC over loopback.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import logging
import math
import os
import queue
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
from bench_baseline import GRPC_CLIENT_PROCESSES, client_processes
from benchkit import BenchContext, benchmark, closed_loop, delete_topics
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from grpc_health.v1 import health_pb2

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, ensure_topics
from credverify.core.attestation import ATTESTATION_V2_TYPE, issue_attestation_v2, sign_attestation
from credverify.core.envelope import ATTESTATION_TYPE, Signer
from credverify.core.keys import public_pem
from credverify.core.sdjwt import present
from credverify.core.settings import KafkaSettings
from credverify.core.timefmt import to_date
from credverify.core.topics import Topics
from credverify.core.trust import sign_issuer_record
from credverify.federation.domain import RegisterIssuer, build_issuer_record
from credverify.issuer.domain import IssueAttestation, build_attestation
from credverify.localrun import Service, free_port, health_status, wait_for
from credverify.registry.bootstrap import Registry, RegistrySettings
from credverify.v1 import attestation_pb2, common_pb2, envelope_pb2, registry_pb2, registry_pb2_grpc

logger = logging.getLogger("bench")

VERIFY_CREDENTIALS = 1_000
VERIFY_CONCURRENCY = (1, 8, 64)
VERIFY_WARMUP_SECONDS = 0.5
VERIFY_SECONDS = 3.0
SEALED_FROM = 100_000  # sealed (v2) credentials are numbered above this
IDENTITY = ("family_name", "given_names", "birth_date")
PROPAGATION_CREDENTIALS = 100
PROPAGATION_CHANGES = 1_000
PROPAGATION_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Federation:
    """A root key, the Nursing Council of Kenya admitted by it, and its signing key."""

    root: Signer
    council: Signer
    record: bytes

    @classmethod
    def create(cls) -> Federation:
        root, council = Signer(Ed25519PrivateKey.generate()), Signer(Ed25519PrivateKey.generate())
        record = build_issuer_record(
            RegisterIssuer(
                issuer_id="KE-NCK", country="KE", display_name="Nursing Council of Kenya",
                credential_kinds=(common_pb2.CREDENTIAL_KIND_LICENCE,), professions_isco=("2221",),
                public_keys=(council.private_key.public_key(),),
            ),
            now=dt.datetime.now(dt.UTC) - dt.timedelta(days=1),
        )
        return cls(root, council, sign_issuer_record(record, root=root).SerializeToString())

    def attestation(self, number: int, *, now: dt.datetime,
                    status: common_pb2.CredentialStatus = common_pb2.CREDENTIAL_STATUS_ACTIVE) -> bytes:
        return sign_attestation(build_attestation(self.order(number, status), now=now),
                                signer=self.council).SerializeToString()

    def sealed(self, number: int, *, now: dt.datetime) -> tuple[bytes, str]:
        """A v2 attestation (digests only) and the practitioner's credential that opens it."""
        envelope, credential = issue_attestation_v2(build_attestation(self.order(number), now=now),
                                                    signer=self.council, now=now, random_bytes=os.urandom)
        return envelope.SerializeToString(), credential.text

    @staticmethod
    def order(number: int, status: common_pb2.CredentialStatus = common_pb2.CREDENTIAL_STATUS_ACTIVE
              ) -> IssueAttestation:
        return IssueAttestation(
            issuer_id="KE-NCK", jurisdiction="KE", local_number=str(number),
            kind=common_pb2.CREDENTIAL_KIND_LICENCE, practitioner_number="NCK-%d" % number,
            family_name="Wanjiru", given_names="Grace Akinyi", date_of_birth=dt.date(1992, 3, 14),
            country_of_training="KE", profession_isco="2221", status=status,
            status_reason="" if status == common_pb2.CREDENTIAL_STATUS_ACTIVE else "INTERIM_ORDER",
            valid_from=dt.date(2020, 1, 1), valid_until=dt.date(2030, 12, 31),
        )


def _fresh_topics(ctx: BenchContext, purpose: str) -> KafkaSettings:
    kafka = ctx.kafka_settings(Topics(prefix="bench-%s-%s." % (purpose, uuid.uuid4().hex[:10])))
    ensure_topics(kafka)
    ctx.defer(delete_topics, kafka, list(kafka.topics.layout()))
    return kafka


def _publish(settings: KafkaSettings, records: list[OutgoingRecord]) -> None:
    producer = ConfirmingProducer(settings, client_id="credverify-bench")
    try:
        failed = [d for d in producer.publish(records) if not d.confirmed]
    finally:
        producer.close()
    if failed:
        raise RuntimeError("%d record(s) not confirmed, first: %s" % (len(failed), failed[0].error))


def _work_dir(ctx: BenchContext, purpose: str) -> Path:
    work = Path(tempfile.mkdtemp(prefix="credverify-bench-%s-" % purpose))
    ctx.defer(shutil.rmtree, work, ignore_errors=True)
    return work


@benchmark(
    *("registry.verify_rps_%d" % n for n in VERIFY_CONCURRENCY),
    *("registry.verify_p99_ms_%d" % n for n in VERIFY_CONCURRENCY),
    "registry.verify_ratio",
    "registry.verify_presented_rps_8",
    "registry.verify_presented_p99_ms_8",
    "registry.verify_presented_ratio",
    "registry.verify_rps_8_workers_2",
    "registry.verify_p99_ms_8_workers_2",
    "registry.verify_scale_2_over_1",
)
def bench_registry_verify(ctx: BenchContext) -> dict[str, float]:
    """Verify with claimed details, from 1, 8 and 64 concurrent clients (each on its own connection),
    against a registry built as `credverify registry serve` builds it (plaintext on loopback, so the
    ratio compares like with like against the echo baseline). Then the same at 8 clients for sealed
    (v2) credentials, each request carrying the practitioner's presentation of her name and birth date:
    the SD-JWT signature, three disclosures and the digests are checked on every call. Then 8 clients
    again against `registry serve --workers 2` (a registry of its own on the same topics): the scale
    is its rate over the one-process rate of this run.

    As in the echo baseline, the clients run in spawned processes, the same number and shape
    (GRPC_CLIENT_PROCESSES): with one GIL per process, clients and server in one interpreter would
    measure GIL contention, and one client process would be the bottleneck of a server on two."""
    echo_rps_8 = ctx.figure("baseline.grpc_echo_rps_8")
    federation = Federation.create()
    kafka = _fresh_topics(ctx, "verify")
    now = dt.datetime.now(dt.UTC)
    sealed = {SEALED_FROM + n: federation.sealed(SEALED_FROM + n, now=now) for n in range(1, VERIFY_CREDENTIALS + 1)}
    presentations = [("KE-NCK/%d" % n, present(credential, disclose=IDENTITY, now=now))
                     for n, (_, credential) in sealed.items()]
    _publish(kafka, [OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", federation.record)] + [
        OutgoingRecord(kafka.topics.attestations, b"KE-NCK/%d" % n, federation.attestation(n, now=now))
        for n in range(1, VERIFY_CREDENTIALS + 1)] + [
        OutgoingRecord(kafka.topics.attestations, b"KE-NCK/%d" % n, envelope, payload_type=ATTESTATION_V2_TYPE)
        for n, (envelope, _) in sealed.items()])
    work = _work_dir(ctx, "verify")
    (work / "root.pub.pem").write_text(public_pem(federation.root.private_key.public_key()))
    figures: dict[str, float] = {}
    window = (VERIFY_CREDENTIALS, VERIFY_WARMUP_SECONDS, VERIFY_SECONDS)
    with client_processes(GRPC_CLIENT_PROCESSES) as clients:
        with _serving(kafka, work, workers=1) as target:
            for threads in VERIFY_CONCURRENCY:
                calls, seconds, latencies = clients.run(run_verify_clients, target, threads, *window)
                figures["registry.verify_rps_%d" % threads] = calls / seconds
                figures["registry.verify_p99_ms_%d" % threads] = p99(latencies) * 1000
            calls, seconds, latencies = clients.run(run_verify_clients, target, 8, *window, presentations)
            figures["registry.verify_presented_rps_8"] = calls / seconds
            figures["registry.verify_presented_p99_ms_8"] = p99(latencies) * 1000
        with _serving(kafka, work, workers=2) as target:
            calls, seconds, latencies = clients.run(run_verify_clients, target, 8, *window)
            figures["registry.verify_rps_8_workers_2"] = calls / seconds
            figures["registry.verify_p99_ms_8_workers_2"] = p99(latencies) * 1000
    figures["registry.verify_ratio"] = figures["registry.verify_rps_8"] / echo_rps_8
    figures["registry.verify_presented_ratio"] = figures["registry.verify_presented_rps_8"] / echo_rps_8
    figures["registry.verify_scale_2_over_1"] = figures["registry.verify_rps_8_workers_2"] / figures[
        "registry.verify_rps_8"]
    return figures


@contextlib.contextmanager
def _serving(kafka: KafkaSettings, work: Path, *, workers: int) -> Iterator[str]:
    """A registry as `credverify registry serve --workers N` runs it, with a store of its own in
    ``work``, once it has ingested the topics and reports SERVING; yields its gRPC target."""
    registry = Registry(RegistrySettings(
        kafka=kafka, db_path=work / ("registry-%d.db" % workers), listen="127.0.0.1:0",
        root_key_files=(str(work / "root.pub.pem"),), destination="GB", pseudonym_key_file=None, workers=workers))
    registry.start()
    try:
        target = "127.0.0.1:%d" % registry.port
        wait_for("the registry (%d worker(s)) to ingest %d attestations" % (workers, 2 * VERIFY_CREDENTIALS),
                 lambda: True if health_status(target) == health_pb2.HealthCheckResponse.SERVING else None)
        yield target
    finally:
        registry.stop(grace=1.0)


def run_verify_clients(target: str, threads: int, credentials: int, warmup_s: float, measure_s: float,
                       presentations: list[tuple[str, str]] | None = None) -> tuple[int, float, list[float]]:
    """Run in a client process: ``threads`` threads, each on its own channel, call Verify back to back
    over the credentials in turn (with ``presentations``: those credentials, each with its presentation).
    Return (calls completed in the measured window, window length, the latency in seconds of each)."""
    claimed = registry_pb2.ClaimedSubject(family_name="WANJIRU", given_names="grace akinyi",
                                          date_of_birth=to_date(dt.date(1992, 3, 14)))
    requests = [registry_pb2.VerifyRequest(credential_id=cid, claimed=claimed, presentation=shown)
                for cid, shown in presentations or [("KE-NCK/%d" % n, "") for n in range(1, credentials + 1)]]

    @contextlib.contextmanager
    def connect(index: int) -> Iterator[Callable[[int], object]]:
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            verify = registry_pb2_grpc.RegistryServiceStub(channel).Verify
            grpc.channel_ready_future(channel).result(timeout=10)
            if not verify(requests[index % credentials], timeout=10).verified:
                raise RuntimeError("a genuine credential did not verify")
            # Thread i calls credentials i, i + threads, ...: all of them are asked for in turn.
            yield lambda n: verify(requests[(index + n * threads) % credentials], timeout=10)

    every, seconds = closed_loop(threads, connect, warmup_s, measure_s, what="verify")
    return len(every), seconds, every


@benchmark("registry.propagation_p99_ms")
def bench_registry_propagation(ctx: BenchContext) -> dict[str, float]:
    """From an issuer publishing a status change to the registry answering it, over 1,000 changes.

    The registry runs as `credverify registry serve` in its own process; this process publishes
    each change through the issuers' confirming producer and follows the credentials with
    WatchStatus, which reports a change only once it is committed (so Verify answers it too).
    One change at a time: the figure is the latency of a change, not of a queue of them."""
    federation = Federation.create()
    kafka = _fresh_topics(ctx, "propagation")
    started_at = dt.datetime.now(dt.UTC)
    ids = ["KE-NCK/%d" % n for n in range(1, PROPAGATION_CREDENTIALS + 1)]
    _publish(kafka, [OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", federation.record)] + [
        OutgoingRecord(kafka.topics.attestations, cid.encode(), federation.attestation(n, now=started_at))
        for n, cid in enumerate(ids, start=1)])
    # (credential id, envelope), alternately suspending and reinstating each credential. A millisecond
    # apart: versions are microseconds, and a change stamped further ahead than MAX_CLOCK_SKEW of the
    # hub's append time is refused as signed in the future (a second apart, change 300 on would be).
    changes = []
    for change in range(PROPAGATION_CHANGES):
        number = change % PROPAGATION_CREDENTIALS + 1
        status = (common_pb2.CREDENTIAL_STATUS_SUSPENDED if (change // PROPAGATION_CREDENTIALS) % 2 == 0
                  else common_pb2.CREDENTIAL_STATUS_ACTIVE)
        changes.append(("KE-NCK/%d" % number, federation.attestation(
            number, now=started_at + dt.timedelta(milliseconds=change + 1), status=status)))

    work = _work_dir(ctx, "propagation")
    (work / "root.pub.pem").write_text(public_pem(federation.root.private_key.public_key()))
    (work / "pseudonym.key").write_bytes(base64.b64encode(os.urandom(48)))
    target = "127.0.0.1:%d" % free_port()
    registry = Service("registry", [
        "--log-level", "WARNING", "registry", "serve", "--db", "registry.db", "--listen", target,
        "--root-key", "root.pub.pem", "--country", "GB", "--plaintext-for-local-use"],
        env=ctx.child_env(kafka.topics.prefix), cwd=work)
    producer = ConfirmingProducer(kafka, client_id="credverify-bench", linger_ms=0)
    channel = grpc.insecure_channel(target)
    try:
        wait_for("the registry to report SERVING", lambda: True if health_status(target) == (
            health_pb2.HealthCheckResponse.SERVING) else None, services=(registry,))
        stream = registry_pb2_grpc.RegistryServiceStub(channel).WatchStatus(
            registry_pb2.WatchStatusRequest(credential_ids=ids))
        seen: queue.Queue[tuple[str, int, float]] = queue.Queue()

        def watch() -> None:
            try:
                for update in stream:
                    if not update.initial:
                        seen.put((update.credential_id, update.version, time.perf_counter()))
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.CANCELLED:  # type: ignore[attr-defined]
                    logger.error("watch ended: %s", exc)

        watcher = threading.Thread(target=watch, name="watch", daemon=True)
        watcher.start()
        latencies = []
        for credential_id, envelope in changes:
            version = _version_of(envelope)
            sent = time.perf_counter()
            delivery = producer.publish_one(OutgoingRecord(kafka.topics.attestations, credential_id.encode(),
                                                           envelope))
            if not delivery.confirmed:
                raise RuntimeError("a status change was not confirmed: %s" % delivery.error)
            while True:
                try:
                    got_id, got_version, at = seen.get(timeout=PROPAGATION_TIMEOUT_S)
                except queue.Empty:
                    registry.assert_running()
                    raise RuntimeError("the registry did not report %s v%d within %.0f s" % (
                        credential_id, version, PROPAGATION_TIMEOUT_S)) from None
                if (got_id, got_version) == (credential_id, version):
                    latencies.append(at - sent)
                    break
        stream.cancel()
        watcher.join(timeout=10)
    finally:
        channel.close()
        producer.close()
        if registry.stop() != 0:
            logger.error("the registry exited with %s:\n%s", registry.process.returncode, registry.log()[-3000:])
    return {"registry.propagation_p99_ms": p99(latencies) * 1000}


def _version_of(envelope_bytes: bytes) -> int:
    payload = envelope_pb2.Envelope.FromString(envelope_bytes).payload
    return int(attestation_pb2.Attestation.FromString(payload).version)


def p99(samples: list[float]) -> float:
    """The 99th percentile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[max(math.ceil(len(ordered) * 0.99) - 1, 0)]


# Ingest and rebuild: the registry materialising the attestation topic into its store.

INGEST_ATTESTATIONS = 50_000
REBUILD_ATTESTATIONS_FULL = 1_000_000
CORPUS_CHUNK = 20_000
INGEST_POLL_S = 0.05
INGEST_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Corpus:
    """Topics holding one issuer record and ``count`` attestations, and the root key that admits it."""

    kafka: KafkaSettings
    root_pem: str
    count: int


# By broker and count: the hub benchmark ingests the same corpus from a second broker.
_corpora: dict[tuple[str, int], Corpus] = {}


def _corpus(ctx: BenchContext, count: int) -> Corpus:
    """Publish (once per run, broker and count) ``count`` distinct attestations signed by one council
    to ``ctx``'s broker, straight to the attestations topic as the operator (the registry's cost is
    what is measured, not the admission before it)."""
    if (ctx.kafka_bootstrap, count) in _corpora:
        return _corpora[(ctx.kafka_bootstrap, count)]
    federation = Federation.create()
    kafka = _fresh_topics(ctx, "ingest-%d" % count)
    _publish(kafka, [OutgoingRecord(kafka.topics.trust_list, b"KE-NCK", federation.record)])
    # One validated attestation as a template, only the number changed: signing dominates, not building.
    template = attestation_pb2.Attestation.FromString(
        envelope_pb2.Envelope.FromString(federation.attestation(0, now=dt.datetime.now(dt.UTC))).payload)
    started = time.perf_counter()
    for first in range(0, count, CORPUS_CHUNK):
        records = []
        for number in range(first, min(first + CORPUS_CHUNK, count)):
            att = attestation_pb2.Attestation()
            att.CopyFrom(template)
            att.credential_id = "KE-NCK/%d" % number
            att.subject.practitioner_number = "NCK-%d" % number
            envelope = federation.council.sign(ATTESTATION_TYPE, att.SerializeToString(deterministic=True))
            records.append(OutgoingRecord(kafka.topics.attestations, att.credential_id.encode(),
                                          envelope.SerializeToString(), ATTESTATION_TYPE))
        _publish(kafka, records)
    logger.info("published %d attestations in %.1f s", count, time.perf_counter() - started)
    corpus = Corpus(kafka, public_pem(federation.root.private_key.public_key()), count)
    _corpora[(ctx.kafka_bootstrap, count)] = corpus
    return corpus


def _consumed(db: Path, topic: str) -> int:
    """Attestation records the registry at ``db`` has committed (0 before it created its store)."""
    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=5)
        try:
            row = conn.execute("SELECT COALESCE(SUM(next_offset), 0) FROM offsets WHERE topic = ?", (topic,)).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # the tables are being created
        return 0
    return int(row[0])


@benchmark("registry.ingest_per_s", "registry.ingest_ratio")
def bench_registry_ingest(ctx: BenchContext) -> dict[str, float]:
    """50,000 attestations ingested by one `credverify registry serve` process: consumed, signature
    and trust rules checked, version rule applied, committed to SQLite with the offsets.

    Measured from its first committed batch to its last, read from its store every 50 ms, so the
    interpreter's start-up is left out. The ratio divides by Ed25519 verifications per second on
    one thread: the registry spreads signature checks over the cores, so it can exceed 1."""
    verify_per_s = ctx.figure("baseline.ed25519_verify_per_s")
    per_s = ingest_per_s(ctx)
    return {"registry.ingest_per_s": per_s, "registry.ingest_ratio": per_s / verify_per_s}


def ingest_per_s(ctx: BenchContext) -> float:
    """Run `credverify registry serve` on ``ctx``'s broker over INGEST_ATTESTATIONS attestations (published
    once per broker); return attestations committed per second from its first committed batch to its
    last. Raises RuntimeError when it does not finish within INGEST_TIMEOUT_S, AssertionError if it exits."""
    corpus = _corpus(ctx, INGEST_ATTESTATIONS)
    work = _work_dir(ctx, "ingest")
    (work / "root.pub.pem").write_text(corpus.root_pem)
    db = work / "registry.db"
    registry = Service("registry", [
        "--log-level", "WARNING", "registry", "serve", "--db", str(db), "--listen", "127.0.0.1:%d" % free_port(),
        "--root-key", "root.pub.pem", "--country", "GB", "--plaintext-for-local-use"],
        env=ctx.child_env(corpus.kafka.topics.prefix), cwd=work)
    topic = corpus.kafka.topics.attestations
    try:
        deadline = time.monotonic() + INGEST_TIMEOUT_S
        first: tuple[float, int] | None = None
        while True:
            registry.assert_running()
            consumed, at = _consumed(db, topic), time.perf_counter()
            if first is None and consumed > 0:
                first = (at, consumed)
            if consumed >= corpus.count:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the registry ingested %d of %d attestations within %.0f s" % (
                    consumed, corpus.count, INGEST_TIMEOUT_S))
            time.sleep(INGEST_POLL_S)
    finally:
        if registry.stop() != 0:
            logger.error("the registry exited with %s:\n%s", registry.process.returncode, registry.log()[-3000:])
    assert first is not None
    if consumed - first[1] < corpus.count // 2:
        raise RuntimeError("the first poll of the store saw %d of %d attestations already: too few left to time"
                           % (first[1], corpus.count))
    return (consumed - first[1]) / (at - first[0])


@benchmark("registry.rebuild_s", "registry.rebuild_peak_mib", "registry.rebuild_attestations")
def bench_registry_rebuild(ctx: BenchContext) -> dict[str, float]:
    """`credverify registry rebuild` into a fresh store: wall time of the whole command, and the peak
    resident memory of its process. 1,000,000 attestations with --full; otherwise the 50,000 of the
    ingest benchmark, and ``registry.rebuild_attestations`` says which."""
    corpus = _corpus(ctx, REBUILD_ATTESTATIONS_FULL if ctx.full else INGEST_ATTESTATIONS)
    work = _work_dir(ctx, "rebuild")
    (work / "root.pub.pem").write_text(corpus.root_pem)
    log = work / "rebuild.log"
    env = ctx.child_env(corpus.kafka.topics.prefix)
    with open(log, "wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "credverify.cli", "--log-level", "WARNING", "registry", "rebuild",
             "--store", str(work / "rebuilt.db"), "--root-key", "root.pub.pem"],
            env=env, cwd=work, stdout=out, stderr=subprocess.STDOUT)
        # wait4 gives this child's own resource usage (RUSAGE_CHILDREN would be the largest of all children).
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    output = log.read_text(errors="replace")
    if process.returncode != 0:
        raise RuntimeError("rebuild exited with %d:\n%s" % (process.returncode, output[-3000:]))
    conn = sqlite3.connect(work / "rebuilt.db")
    try:
        stored = conn.execute("SELECT COUNT(*) FROM attestations").fetchone()[0]
    finally:
        conn.close()
    if stored != corpus.count:
        raise RuntimeError("the rebuilt store holds %d of %d attestations:\n%s" % (stored, corpus.count, output))
    return {
        "registry.rebuild_s": seconds,
        "registry.rebuild_peak_mib": usage.ru_maxrss / 1024,  # Linux reports kibibytes
        "registry.rebuild_attestations": corpus.count,
    }
