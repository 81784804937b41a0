"""Measure the throughput figures that credverify's performance work is judged by.

    python scripts/bench.py                     # every benchmark (make bench)
    python scripts/bench.py --only baseline.ed  # only figures whose names start so
    python scripts/bench.py --list              # the figures each benchmark reports

Each figure is printed to stderr as it is measured; the last line of stdout is
one JSON object holding every figure of the run, keys sorted. Kafka figures use
the broker named by KAFKA_BOOTSTRAP_SERVERS, or else a local broker started
(and stopped) by this script.

To add figures, write ``def bench_xxx(ctx: BenchContext) -> dict[str, float]``
and decorate it with ``@benchmark("figure.one", "figure.two")``; benchmarks run
in the order they are defined and must return exactly the figures they declare.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import json
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import grpc
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from credverify.core.envelope import ATTESTATION_TYPE, pae
from credverify.core.kafka_io import ConfirmingProducer, OutgoingRecord

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench")

# A real attestation envelope is a few hundred bytes; 600 is a round upper figure.
RECORD_BYTES = 600
# Long enough that timer resolution and warm-up are noise, short enough that the
# whole run stays well under two minutes on a 2-core machine.
CRYPTO_SECONDS = 2.0
KAFKA_RECORDS = 50_000
GRPC_CLIENT_THREADS = 8
GRPC_WARMUP_SECONDS = 0.5
GRPC_SECONDS = 3.0
GRPC_PAYLOAD_BYTES = 100
CONSUME_TIMEOUT_S = 60.0

BenchFunction = Callable[["BenchContext"], dict[str, float]]


@dataclass(frozen=True)
class Benchmark:
    function: BenchFunction
    figures: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.function.__name__

    def selected_by(self, prefixes: list[str]) -> bool:
        return not prefixes or any(f.startswith(p) for f in self.figures for p in prefixes)


BENCHMARKS: list[Benchmark] = []


def benchmark(*figures: str) -> Callable[[BenchFunction], BenchFunction]:
    """Register the decorated function as the benchmark that reports ``figures``."""

    def register(function: BenchFunction) -> BenchFunction:
        BENCHMARKS.append(Benchmark(function, figures))
        return function

    return register


class BenchContext:
    """What benchmarks share: run options, a Kafka broker started on first use, and clean-up."""

    def __init__(self, *, full: bool, kafka_bootstrap: str | None) -> None:
        self.full = full
        self._kafka_bootstrap = kafka_bootstrap
        self._cleanup = contextlib.ExitStack()

    @property
    def kafka_bootstrap(self) -> str:
        """Return the broker's address, starting a local broker the first time none is configured."""
        if self._kafka_bootstrap is None:
            self._kafka_bootstrap = self._start_local_broker()
        return self._kafka_bootstrap

    def _start_local_broker(self) -> str:
        localkafka = _import_localkafka()
        state_dir = Path(tempfile.mkdtemp(prefix="credverify-bench-kafka-"))
        self.defer(shutil.rmtree, state_dir, ignore_errors=True)
        logger.info("starting a local kafka broker in %s", state_dir)
        broker = localkafka.LocalKafka(state_dir=state_dir, port=0)
        # Registered before start() so that a start-up that fails half-way still stops the process.
        self.defer(broker.stop)
        # The readiness probe logs every refused connection at ERROR until the broker listens.
        kafka_logger = logging.getLogger("kafka")
        level = kafka_logger.level
        kafka_logger.setLevel(logging.CRITICAL)
        try:
            broker.start()
        finally:
            kafka_logger.setLevel(level)
        logger.info("kafka ready at %s after %.1f s", broker.bootstrap, broker.ready_after_s or 0.0)
        return str(broker.bootstrap)

    def new_topic(self, purpose: str, *, partitions: int) -> str:
        """Create a topic no other run can share, wait until it has leaders, return its name.

        The topic is deleted when the run ends (a configured broker outlives the run)."""
        name = f"bench-{purpose}-{uuid.uuid4().hex[:10]}"
        admin = KafkaAdminClient(bootstrap_servers=self.kafka_bootstrap, client_id="credverify-bench")
        try:
            admin.create_topics({name: {"num_partitions": partitions, "replication_factor": -1}})
            admin.wait_for_topics([name])
        finally:
            admin.close()
        self.defer(_delete_topic, self.kafka_bootstrap, name)
        return name

    def defer(self, callback: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Run ``callback`` when the run ends, last registered first."""
        self._cleanup.callback(callback, *args, **kwargs)

    def close(self) -> None:
        self._cleanup.close()


def _import_localkafka() -> ModuleType:
    sys.path.insert(0, str(ROOT / "deploy" / "kafka"))
    return importlib.import_module("localkafka")


def _delete_topic(bootstrap: str, name: str) -> None:
    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="credverify-bench")
    except KafkaError as exc:
        logger.warning("could not delete topic %s: %s", name, exc)
        return
    try:
        admin.delete_topics([name])
    except KafkaError as exc:
        logger.warning("could not delete topic %s: %s", name, exc)
    finally:
        admin.close()


def _rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def _repeat_for(seconds: float, operation: Callable[[], object], batch: int = 500) -> float:
    """Call ``operation`` in batches until ``seconds`` have passed; return calls per second."""
    calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(batch):
            operation()
        calls += batch
        now = time.perf_counter()
        if now >= deadline:
            return _rate(calls, now - started)


# --- baseline: what the libraries and the machine allow, before any credverify logic -------------


@benchmark("baseline.ed25519_sign_per_s", "baseline.ed25519_verify_per_s")
def bench_ed25519(ctx: BenchContext) -> dict[str, float]:
    """Ed25519 from `cryptography` over the PAE of a record-sized payload, as the envelope code signs."""
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    public_key = key.public_key()
    payload_bytes = RECORD_BYTES - len(pae(ATTESTATION_TYPE, b""))
    message = pae(ATTESTATION_TYPE, os.urandom(payload_bytes))
    signature = key.sign(message)
    public_key.verify(signature, message)  # raises if the set-up is wrong
    return {
        "baseline.ed25519_sign_per_s": _repeat_for(CRYPTO_SECONDS, lambda: key.sign(message)),
        "baseline.ed25519_verify_per_s": _repeat_for(CRYPTO_SECONDS, lambda: public_key.verify(signature, message)),
    }


@benchmark("baseline.produce_per_s", "baseline.consume_per_s")
def bench_kafka(ctx: BenchContext) -> dict[str, float]:
    """Confirmed produce through the project's producer settings, then a full read back from offset 0."""
    if importlib.util.find_spec("crc32c") is None:
        logger.warning(
            "crc32c is not installed: kafka-python checksums every record batch in pure python, "
            "which dominates both produce and consume time"
        )
    topic = ctx.new_topic("baseline", partitions=3)
    value = os.urandom(RECORD_BYTES)
    records = [OutgoingRecord(topic, b"%08d" % i, value) for i in range(KAFKA_RECORDS)]

    producer = ConfirmingProducer(ctx.kafka_bootstrap, client_id="credverify-bench")
    try:
        # Metadata and the idempotent producer id are fetched once per producer, not per record.
        warmup = producer.publish_one(OutgoingRecord(topic, b"warm-up", value))
        if not warmup.confirmed:
            raise RuntimeError("warm-up record was not confirmed: %s" % warmup.error)
        started = time.perf_counter()
        deliveries = producer.publish(records)
        produce_seconds = time.perf_counter() - started
    finally:
        producer.close()
    failed = [d for d in deliveries if not d.confirmed]
    if failed:
        raise RuntimeError("%d of %d records not confirmed, first: %s" % (len(failed), len(records), failed[0].error))
    expected = KAFKA_RECORDS + 1

    consumer = KafkaConsumer(
        bootstrap_servers=ctx.kafka_bootstrap,
        client_id="credverify-bench",
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if len(partitions) != 3:
            raise RuntimeError("expected 3 partitions of %s, found %d" % (topic, len(partitions)))
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        received = 0
        started = time.perf_counter()
        deadline = started + CONSUME_TIMEOUT_S
        while received < expected:
            if time.perf_counter() > deadline:
                raise RuntimeError("read %d of %d records within %.0f s" % (received, expected, CONSUME_TIMEOUT_S))
            for batch in consumer.poll(timeout_ms=500).values():
                received += len(batch)
        consume_seconds = time.perf_counter() - started
    finally:
        consumer.close()
    if received != expected:
        raise RuntimeError("expected %d records back, read %d" % (expected, received))
    return {
        "baseline.produce_per_s": _rate(KAFKA_RECORDS, produce_seconds),
        "baseline.consume_per_s": _rate(received, consume_seconds),
    }


ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = "/bench.Echo/Echo"


@benchmark("baseline.grpc_echo_rps_8")
def bench_grpc_echo(ctx: BenchContext) -> dict[str, float]:
    """Unary echo against a server built like the registry's (16-thread pool, plaintext, loopback).

    The clients run in a separate (spawned) process: with 2 cores and one GIL per
    process, clients and server in one interpreter would measure GIL contention
    rather than the server. Spawned rather than forked because gRPC's core does
    not survive fork() in a process that already uses it."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"))
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)}
            ),
        )
    )
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise OSError("cannot listen on 127.0.0.1:0")
    server.start()
    try:
        with futures.ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            calls, seconds = pool.submit(
                run_echo_clients, f"127.0.0.1:{port}", GRPC_CLIENT_THREADS, GRPC_WARMUP_SECONDS, GRPC_SECONDS
            ).result(timeout=60)
    finally:
        server.stop(grace=1.0).wait()
    return {"baseline.grpc_echo_rps_8": _rate(calls, seconds)}


def run_echo_clients(target: str, threads: int, warmup_s: float, measure_s: float) -> tuple[int, float]:
    """Run in the client process: ``threads`` threads, each on its own channel and connection,
    call Echo back to back. Return (calls completed in the measured window, window length)."""
    payload = os.urandom(GRPC_PAYLOAD_BYTES)
    ready = threading.Barrier(threads + 1)
    go = threading.Event()
    stop = threading.Event()
    counts = [0] * threads
    errors: list[BaseException] = []

    def client(index: int) -> None:
        # A local subchannel pool stops channels with identical arguments sharing one connection.
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            echo = channel.unary_unary(ECHO_METHOD)
            try:
                grpc.channel_ready_future(channel).result(timeout=10)
                if echo(payload, timeout=10) != payload:
                    raise RuntimeError("echo returned different bytes than it was sent")
                ready.wait(timeout=30)
                while not go.is_set():  # warm-up calls, not counted
                    echo(payload, timeout=10)
                calls = 0
                while not stop.is_set():
                    echo(payload, timeout=10)
                    calls += 1
                counts[index] = calls
            except BaseException as exc:
                errors.append(exc)
                ready.abort()
                raise

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=30)
    except threading.BrokenBarrierError:
        stop.set()
        go.set()
        cause = repr(errors[0]) if errors else "timed out"
        raise RuntimeError("echo clients did not start: %s" % cause) from None
    time.sleep(warmup_s)
    go.set()
    started = time.perf_counter()
    time.sleep(measure_s)
    stop.set()
    seconds = time.perf_counter() - started
    # Calls in flight when the window closes finish after it: counted, at most one per thread.
    for worker in workers:
        worker.join(timeout=15)
    if errors:
        raise RuntimeError("echo client failed: %r" % errors[0])
    return sum(counts), seconds


# --- driver -----------------------------------------------------------------------------------------


def rounded(value: float) -> float | int:
    """Rates and other large figures as integers; small ones to three significant digits."""
    if abs(value) >= 100:
        return round(value)
    return float(f"{value:.3g}")


def run(selected: list[Benchmark], ctx: BenchContext) -> dict[str, float | int]:
    """Run ``selected`` in order; return every figure, rounded. Raises if one reports other figures."""
    results: dict[str, float | int] = {}
    for bench in selected:
        logger.info("running %s", bench.name)
        figures = bench.function(ctx)
        if set(figures) != set(bench.figures):
            raise RuntimeError(
                "%s declared figures %s but returned %s" % (bench.name, sorted(bench.figures), sorted(figures))
            )
        for name in bench.figures:
            results[name] = rounded(figures[name])
            print(f"{name:<34} {results[name]:>14,}", file=sys.stderr, flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the longer run (currently the same as the default)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PREFIX",
        help="run only benchmarks reporting a figure whose name starts with PREFIX (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their figures, then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(name)s: %(message)s",
    )
    # kafka-python warns about routine metadata refreshes while topics are created and deleted.
    logging.getLogger("kafka").setLevel(logging.ERROR)

    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.name}: {', '.join(bench.figures)}")
        return 0
    selected = [b for b in BENCHMARKS if b.selected_by(args.only)]
    if not selected:
        print(f"error: no figure starts with {' or '.join(args.only)}", file=sys.stderr)
        return 2

    started = time.monotonic()
    ctx = BenchContext(full=args.full, kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    try:
        results = run(selected, ctx)
    finally:
        ctx.close()
    # A benchmark that reports several figures runs whole, so drop those --only did not ask for.
    if args.only:
        results = {k: v for k, v in results.items() if any(k.startswith(p) for p in args.only)}
    print(f"{'(wall time, s)':<34} {time.monotonic() - started:>14.1f}", file=sys.stderr)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
