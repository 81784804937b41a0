"""The benchmark framework behind ``make bench``: registration, a shared context, figures.

A benchmark is ``def bench_xxx(ctx: BenchContext) -> dict[str, float]`` decorated with
``@benchmark("figure.one", "figure.two")``; it must return exactly the figures it
declares. Benchmarks live in the ``bench_*.py`` modules beside this one (one per
service) and run in the order scripts/bench.py imports them, baseline first.

A ratio against a baseline uses ``ctx.figure("baseline.x")``: the baseline's value
from this same run, measured on the spot when ``--only`` left it out.

The local broker is closed as the hub is (SCRAM and ACLs); benchmarks act as its operator. Every
kafka-python client is built from ``ctx.kafka_settings()`` through the project's ``client_config``,
and every child ``credverify`` process gets its settings from ``ctx.child_env``.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

from credverify.core.adapters.kafka import client_config
from credverify.core.settings import (
    BOOTSTRAP_ENV,
    SASL_MECHANISM_ENV,
    SASL_PASSWORD_ENV,
    SASL_PASSWORD_FILE_ENV,
    SASL_USERNAME_ENV,
    SECURITY_PROTOCOL_ENV,
    SSL_CAFILE_ENV,
    SSL_CERTFILE_ENV,
    SSL_KEYFILE_ENV,
    TOPIC_PREFIX_ENV,
    KafkaSecurity,
    KafkaSettings,
)
from credverify.core.topics import Topics

ROOT = Path(__file__).resolve().parent.parent
logger = logging.getLogger("bench")

BenchFunction = Callable[["BenchContext"], dict[str, float]]
# How a client authenticates: a child process gets exactly its broker's settings, none inherited.
SECURITY_ENV = (SECURITY_PROTOCOL_ENV, SASL_MECHANISM_ENV, SASL_USERNAME_ENV, SASL_PASSWORD_ENV,
                SASL_PASSWORD_FILE_ENV, SSL_CAFILE_ENV, SSL_CERTFILE_ENV, SSL_KEYFILE_ENV)


@dataclass(frozen=True)
class Benchmark:
    function: BenchFunction
    figures: tuple[str, ...]
    full_only: bool = False  # a long run (millions of records): only with --full (make bench FULL=1)

    @property
    def name(self) -> str:
        return self.function.__name__

    def selected_by(self, prefixes: list[str]) -> bool:
        return not prefixes or any(f.startswith(p) for f in self.figures for p in prefixes)


BENCHMARKS: list[Benchmark] = []


def benchmark(*figures: str, full_only: bool = False) -> Callable[[BenchFunction], BenchFunction]:
    """Register the decorated function as the benchmark that reports ``figures``; with ``full_only``,
    it runs only in a full run (--full)."""

    def register(function: BenchFunction) -> BenchFunction:
        BENCHMARKS.append(Benchmark(function, figures, full_only))
        return function

    return register


class BenchContext:
    """What benchmarks share: run options, a Kafka broker started on first use, and clean-up.

    With no broker configured, the context starts a local one, closed (``secure``) unless told
    otherwise, acts as its operator and, with ``export_env``, puts the operator's settings into
    ``os.environ`` so that whatever this process starts can reach the broker as a shell would."""

    def __init__(self, *, full: bool, kafka_bootstrap: str | None, secure: bool = True,
                 export_env: bool = True) -> None:
        self.full = full
        self._kafka_bootstrap = kafka_bootstrap
        self._secure = secure
        self._export_env = export_env
        # The local broker's operator; None for a configured broker (the environment says how to reach it).
        self._security: KafkaSecurity | None = None
        self.broker_ready_s: float | None = None  # start-to-ready of the local broker, once started
        self._cleanup = contextlib.ExitStack()
        self.results: dict[str, float | int] = {}

    def figure(self, name: str) -> float:
        """Return figure ``name`` of this run, running the benchmark that reports it if it has not run."""
        if name not in self.results:
            [owner] = [b for b in BENCHMARKS if name in b.figures]
            run_one(owner, self)
        return float(self.results[name])

    @property
    def configured_broker(self) -> bool:
        """True when the broker is one named by the caller rather than one this context starts."""
        return self._security is None and self._kafka_bootstrap is not None

    @property
    def kafka_bootstrap(self) -> str:
        """Return the broker's address, starting a local broker the first time none is configured."""
        if self._kafka_bootstrap is None:
            self._kafka_bootstrap = self._start_local_broker()
        return self._kafka_bootstrap

    def kafka_settings(self, topics: Topics | None = None) -> KafkaSettings:
        """Return settings that reach this context's broker with ``topics`` (the default names when
        None): as the operator of a local broker, else as the environment says."""
        bootstrap = self.kafka_bootstrap
        security = self._security if self._security is not None else KafkaSecurity.from_env()
        return KafkaSettings(bootstrap, topics if topics is not None else Topics(), security)

    def child_env(self, topic_prefix: str) -> dict[str, str]:
        """Return the environment of a `credverify` process on this broker's topics named with
        ``topic_prefix``: this process's environment with this broker's address and security."""
        kafka = self.kafka_settings()
        env = {name: value for name, value in os.environ.items() if name not in SECURITY_ENV}
        env.update(kafka.security.as_env())
        env.update({BOOTSTRAP_ENV: kafka.bootstrap_servers, TOPIC_PREFIX_ENV: topic_prefix, "PYTHONUNBUFFERED": "1"})
        return env

    def side_broker(self, *, secure: bool) -> BenchContext:
        """Return a context with a local broker of its own (started on first use, in its own state
        dir), that leaves ``os.environ`` alone; its ``close()`` deletes its topics and stops it."""
        return BenchContext(full=self.full, kafka_bootstrap=None, secure=secure, export_env=False)

    def _start_local_broker(self) -> str:
        localkafka = _import_localkafka()
        state_dir = Path(tempfile.mkdtemp(prefix="credverify-bench-kafka-"))
        self.defer(shutil.rmtree, state_dir, ignore_errors=True)
        logger.info("starting a local %s kafka broker in %s", "closed" if self._secure else "open", state_dir)
        broker = localkafka.LocalKafka(state_dir=state_dir, port=0, secure=self._secure)
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
        self.broker_ready_s = broker.ready_after_s
        self._security = broker.operator_security()
        if self._export_env:
            saved = dict(os.environ)
            self.defer(_restore_environ, saved)
            for name in SECURITY_ENV:
                os.environ.pop(name, None)
            os.environ.update(broker.operator_env())
        return str(broker.bootstrap)

    def new_topic(self, purpose: str, *, partitions: int) -> str:
        """Create a topic no other run can share, wait until it has leaders, return its name.

        The topic is deleted when the run ends (a configured broker outlives the run)."""
        name = f"bench-{purpose}-{uuid.uuid4().hex[:10]}"
        kafka = self.kafka_settings()
        admin = KafkaAdminClient(**client_config(kafka, "credverify-bench"))
        try:
            admin.create_topics({name: {"num_partitions": partitions, "replication_factor": -1}})
            admin.wait_for_topics([name])
        finally:
            admin.close()
        self.defer(delete_topics, kafka, [name])
        return name

    def defer(self, callback: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Run ``callback`` when the run ends, last registered first."""
        self._cleanup.callback(callback, *args, **kwargs)

    def close(self) -> None:
        self._cleanup.close()


def _import_localkafka() -> ModuleType:
    folder = str(ROOT / "deploy" / "kafka")
    if folder not in sys.path:
        sys.path.insert(0, folder)
    return importlib.import_module("localkafka")


def _restore_environ(saved: dict[str, str]) -> None:
    os.environ.clear()
    os.environ.update(saved)


def delete_topics(kafka: KafkaSettings, names: list[str]) -> None:
    """Delete ``names`` from ``kafka``'s broker; a failure is logged, not raised (clean-up only)."""
    try:
        admin = KafkaAdminClient(**client_config(kafka, "credverify-bench"))
    except KafkaError as exc:
        logger.warning("could not delete topics %s: %s", names, exc)
        return
    try:
        admin.delete_topics(names)
    except KafkaError as exc:
        logger.warning("could not delete topics %s: %s", names, exc)
    finally:
        admin.close()


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds > 0 else float("inf")


def repeat_for(seconds: float, operation: Callable[[], object], batch: int = 500) -> float:
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
            return rate(calls, now - started)


def rounded(value: float) -> float | int:
    """Rates and other large figures as integers; small ones to three significant digits."""
    if abs(value) >= 100:
        return round(value)
    return float(f"{value:.3g}")


def run_one(bench: Benchmark, ctx: BenchContext) -> None:
    """Run ``bench`` and record its figures, rounded, in ``ctx.results``. Raises if it reports other figures."""
    logger.info("running %s", bench.name)
    figures = bench.function(ctx)
    if set(figures) != set(bench.figures):
        raise RuntimeError(
            "%s declared figures %s but returned %s" % (bench.name, sorted(bench.figures), sorted(figures))
        )
    for name in bench.figures:
        ctx.results[name] = rounded(figures[name])
        print(f"{name:<34} {ctx.results[name]:>14,}", file=sys.stderr, flush=True)


def run(selected: list[Benchmark], ctx: BenchContext) -> dict[str, float | int]:
    """Run ``selected`` in order (skipping any already run for a ratio); return every figure of the run."""
    for bench in selected:
        if bench.full_only and not ctx.full:
            logger.info("skipping %s: only with --full", bench.name)
            continue
        if not all(name in ctx.results for name in bench.figures):
            run_one(bench, ctx)
    return dict(ctx.results)




# A client thread: given its index, opens its own connection and returns the call to repeat,
# ``call(n)`` for the n-th call of that thread, having checked once that the answer is right.
ClientFactory = Callable[[int], "contextlib.AbstractContextManager[Callable[[int], object]]"]


def closed_loop(threads: int, connect: ClientFactory, warmup_s: float, measure_s: float, *, what: str
                ) -> tuple[list[float], float]:
    """Run ``threads`` clients, each calling back to back on its own connection: warm up for
    ``warmup_s``, then measure for ``measure_s``. Return (the latency in seconds of every call that
    started in the measured window, the window's length). Raises RuntimeError if a client fails.

    Calls in flight when the window closes finish after it: counted, at most one per thread."""
    ready = threading.Barrier(threads + 1)
    go, stop = threading.Event(), threading.Event()
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[BaseException] = []

    def client(index: int) -> None:
        try:
            with connect(index) as call:
                ready.wait(timeout=60)
                n = 0
                while not go.is_set():  # warm-up calls, not counted
                    call(n)
                    n += 1
                mine = latencies[index]
                while not stop.is_set():
                    started = time.perf_counter()
                    call(n)
                    mine.append(time.perf_counter() - started)
                    n += 1
        except BaseException as exc:
            errors.append(exc)
            ready.abort()
            raise

    workers = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    try:
        ready.wait(timeout=90)
    except threading.BrokenBarrierError:
        stop.set()
        go.set()
        cause = repr(errors[0]) if errors else "timed out"
        raise RuntimeError("%s clients did not start: %s" % (what, cause)) from None
    time.sleep(warmup_s)
    go.set()
    started = time.perf_counter()
    time.sleep(measure_s)
    stop.set()
    seconds = time.perf_counter() - started
    for worker in workers:
        worker.join(timeout=30)
    if errors:
        raise RuntimeError("%s client failed: %r" % (what, errors[0]))
    return [latency for mine in latencies for latency in mine], seconds
