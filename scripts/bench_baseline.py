"""Baseline figures: what the libraries and the machine allow before any credverify logic.

Every service's ratio divides by one of these, measured in the same run.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from multiprocessing.connection import Connection

import grpc
from benchkit import BenchContext, benchmark, closed_loop, rate, repeat_for
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import TopicPartition

from credverify.core.adapters.kafka import ConfirmingProducer, OutgoingRecord, new_consumer
from credverify.core.envelope import ATTESTATION_TYPE, pae
from credverify.core.settings import KafkaSettings
from credverify.registry.workers import reserve_port

logger = logging.getLogger("bench")

# A real attestation envelope is a few hundred bytes; 600 is a round upper figure.
RECORD_BYTES = 600
# Long enough that timer resolution and warm-up are noise, short enough that the
# whole run stays well under two minutes on a 2-core machine.
CRYPTO_SECONDS = 2.0
KAFKA_RECORDS = 50_000
GRPC_CLIENT_THREADS = 8
# The 8 client connections are spread over this many processes (one GIL each): on 2 cores one client
# process would itself be the bottleneck once the server runs on more than one process.
GRPC_CLIENT_PROCESSES = 2
GRPC_WARMUP_SECONDS = 0.5
GRPC_SECONDS = 3.0
GRPC_PAYLOAD_BYTES = 100
CONSUME_TIMEOUT_S = 60.0


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
        "baseline.ed25519_sign_per_s": repeat_for(CRYPTO_SECONDS, lambda: key.sign(message)),
        "baseline.ed25519_verify_per_s": repeat_for(CRYPTO_SECONDS, lambda: public_key.verify(signature, message)),
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
    kafka = ctx.kafka_settings()
    produced = produce_per_s(kafka, topic)
    return {
        "baseline.produce_per_s": produced,
        "baseline.consume_per_s": consume_per_s(kafka, topic, expected=KAFKA_RECORDS + 1),
    }


def produce_per_s(kafka: KafkaSettings, topic: str) -> float:
    """Publish one warm-up record, then KAFKA_RECORDS records of RECORD_BYTES to ``topic`` (3 partitions)
    through a ConfirmingProducer built with ``kafka``; return the confirmed records per second.
    Raises RuntimeError if any record is not confirmed."""
    value = os.urandom(RECORD_BYTES)
    records = [OutgoingRecord(topic, b"%08d" % i, value) for i in range(KAFKA_RECORDS)]
    producer = ConfirmingProducer(kafka, client_id="credverify-bench")
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
    return rate(KAFKA_RECORDS, produce_seconds)


def consume_per_s(kafka: KafkaSettings, topic: str, *, expected: int) -> float:
    """Read ``topic`` (3 partitions) from offset 0 until ``expected`` records are back; return records
    per second. Raises RuntimeError when they do not all arrive within CONSUME_TIMEOUT_S."""
    consumer = new_consumer(kafka, "credverify-bench")
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
    return rate(received, consume_seconds)


ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = "/bench.Echo/Echo"


@benchmark("baseline.grpc_echo_rps_8", "baseline.grpc_echo_rps_8_processes_2", "baseline.grpc_echo_scale_2_over_1")
def bench_grpc_echo(ctx: BenchContext) -> dict[str, float]:
    """Unary echo against a server built like the registry's (16-thread pool, plaintext, loopback),
    from 8 client connections spread over GRPC_CLIENT_PROCESSES processes (``client_processes``).
    Then the same against two such servers in processes of their own sharing one port (SO_REUSEPORT),
    as `registry serve --workers 2` does: what this machine allows a server on two processes to gain.

    The clients run in separate (spawned) processes: with 2 cores and one GIL per
    process, clients and server in one interpreter would measure GIL contention
    rather than the server. Spawned rather than forked because gRPC's core does
    not survive fork() in a process that already uses it."""
    server = _echo_server(reuse_port=False)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise OSError("cannot listen on 127.0.0.1:0")
    server.start()
    window = (GRPC_CLIENT_THREADS, GRPC_WARMUP_SECONDS, GRPC_SECONDS)
    with client_processes(GRPC_CLIENT_PROCESSES) as clients:
        try:
            calls, seconds, _ = clients.run(run_echo_clients, f"127.0.0.1:{port}", *window)
        finally:
            server.stop(grace=1.0).wait()
        one = rate(calls, seconds)
        with _echo_processes(2) as target:
            calls, seconds, _ = clients.run(run_echo_clients, target, *window)
        two = rate(calls, seconds)
    return {"baseline.grpc_echo_rps_8": one, "baseline.grpc_echo_rps_8_processes_2": two,
            "baseline.grpc_echo_scale_2_over_1": two / one}


def _echo_server(*, reuse_port: bool) -> grpc.Server:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="grpc"),
                         options=[("grpc.so_reuseport", 1 if reuse_port else 0)])
    server.add_generic_rpc_handlers(
        (
            grpc.method_handlers_generic_handler(
                ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(lambda request, context: request)}
            ),
        )
    )
    return server


def serve_echo(listen: str, conn: Connection) -> None:
    """Run in a server process: an echo server sharing ``listen``'s port; tell ``conn`` once it
    listens, stop when told."""
    server = _echo_server(reuse_port=True)
    if server.add_insecure_port(listen) == 0:
        raise OSError("cannot listen on %s" % listen)
    server.start()
    conn.send("listening")
    conn.recv()
    server.stop(grace=1.0).wait()


@contextlib.contextmanager
def _echo_processes(count: int) -> Iterator[str]:
    """``count`` echo server processes on one port; yields its target."""
    holder, listen = reserve_port("127.0.0.1:0")
    spawn = multiprocessing.get_context("spawn")
    servers = []
    try:
        for _ in range(count):
            ours, theirs = spawn.Pipe()
            process = spawn.Process(target=serve_echo, args=(listen, theirs), daemon=True)
            process.start()
            servers.append((process, ours))
        for process, conn in servers:
            if not conn.poll(60) or conn.recv() != "listening":
                raise RuntimeError("echo server process %s did not start" % process.pid)
        yield listen
    finally:
        for process, conn in servers:
            with contextlib.suppress(OSError):
                conn.send("stop")
            process.join(10)
            if process.is_alive():
                process.kill()
        holder.close()


class ClientProcesses:
    """Spawned client processes, started once and reused; ``run`` splits ``threads`` connections
    over them."""

    def __init__(self, pool: futures.ProcessPoolExecutor, processes: int) -> None:
        self._pool = pool
        self.processes = processes

    def run(self, clients: Callable[..., tuple[int, float] | tuple[int, float, list[float]]], target: str,
            threads: int, *args: object, timeout: float = 120.0) -> tuple[int, float, list[float]]:
        """Run ``clients(target, threads_of_this_process, *args)`` in every process at once (the
        connections shared out as evenly as can be, a process never left without one); return (calls
        in all, the mean measured window, every latency reported). The processes measure windows
        started within milliseconds of each other: each warms up first, for the same time."""
        shares = [threads // self.processes + (1 if i < threads % self.processes else 0)
                  for i in range(min(self.processes, threads))]
        results = [f.result(timeout=timeout) for f in [self._pool.submit(clients, target, n, *args) for n in shares]]
        calls = sum(r[0] for r in results)
        seconds = sum(r[1] for r in results) / len(results)
        latencies = [x for r in results if len(r) > 2 for x in r[2]]
        return calls, seconds, latencies


def _pid_after(seconds: float) -> int:
    time.sleep(seconds)
    return os.getpid()


@contextlib.contextmanager
def client_processes(processes: int) -> Iterator[ClientProcesses]:
    """``processes`` spawned client processes, each started (interpreter and imports) before use."""
    with futures.ProcessPoolExecutor(max_workers=processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        # Jobs that hold a process for a while: the pool spawns another for the next, until all run.
        pids: set[int] = set()
        for _ in range(10):
            pids |= {f.result(timeout=60) for f in [pool.submit(_pid_after, 0.5) for _ in range(processes)]}
            if len(pids) >= processes:
                break
        yield ClientProcesses(pool, processes)


def run_echo_clients(target: str, threads: int, warmup_s: float, measure_s: float) -> tuple[int, float]:
    """Run in the client process: ``threads`` threads, each on its own channel and connection,
    call Echo back to back. Return (calls completed in the measured window, window length)."""
    payload = os.urandom(GRPC_PAYLOAD_BYTES)

    @contextlib.contextmanager
    def connect(index: int) -> Iterator[Callable[[int], object]]:
        # A local subchannel pool stops channels with identical arguments sharing one connection.
        with grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)]) as channel:
            echo = channel.unary_unary(ECHO_METHOD)
            grpc.channel_ready_future(channel).result(timeout=10)
            if echo(payload, timeout=10) != payload:
                raise RuntimeError("echo returned different bytes than it was sent")
            yield lambda n: echo(payload, timeout=10)

    latencies, seconds = closed_loop(threads, connect, warmup_s, measure_s, what="echo")
    return len(latencies), seconds


