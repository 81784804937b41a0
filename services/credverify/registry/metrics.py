"""The registry's Prometheus metrics: what it consumed, refused and answered, and how far behind it is."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from credverify.core.adapters.grpc_server_kit import GrpcServerMetrics
from credverify.core.errors import reason_code
from credverify.registry.ports import IngestBatch
from credverify.registry.stall import StallWatch
from credverify.v1 import common_pb2


class _IngestValues(Collector):
    """What ingest reports, read when scraped rather than counted as it happens."""

    def __init__(self, *, records_consumed: Callable[[], int], lag: Callable[[], dict[str, int]],
                 stall: StallWatch) -> None:
        self._records_consumed = records_consumed
        self._lag = lag
        self._stall = stall

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("credverify_registry_records_consumed",
                                  "Records read from the trust-list and attestation topics.",
                                  value=self._records_consumed())
        lag = GaugeMetricFamily("credverify_registry_consumer_lag_records",
                                "Records on each topic not yet committed to the store.", labels=["topic"])
        for topic, records in sorted(self._lag().items()):
            lag.add_metric([topic], records)
        yield lag
        yield GaugeMetricFamily("credverify_registry_ingest_stalled",
                                "1 while the topics hold records not committed and ingest has made no progress "
                                "for --stall-after seconds (health is then NOT_SERVING), else 0.",
                                value=1 if self._stall.stalled else 0)
        yield GaugeMetricFamily("credverify_registry_ingest_seconds_without_progress",
                                "Seconds ingest has had records to commit without making progress.",
                                value=self._stall.stalled_for_s)


class _AnswerValues(Collector):
    """What a process answering gRPC holds, read when scraped."""

    def __init__(self, *, watchers: Callable[[], int], cached: Callable[[], int]) -> None:
        self._watchers = watchers
        self._cached = cached

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily("credverify_registry_watch_streams", "Open WatchStatus streams.",
                                value=self._watchers())
        yield GaugeMetricFamily("credverify_registry_verification_cache_entries",
                                "Stored envelopes whose verification outcome is cached.", value=self._cached())


class AnswerMetrics:
    """What one process answering the registry's gRPC counts: calls, verdicts, open streams and cached
    outcomes. With ``--workers``, each worker process has its own, and the parent shows them all."""

    def __init__(self, registry: CollectorRegistry, *, watchers: Callable[[], int],
                 cached: Callable[[], int]) -> None:
        self.registry = registry
        self.grpc = GrpcServerMetrics(registry)
        self._verdicts = Counter("credverify_registry_verdicts_total",
                                 "Verdicts answered, by RPC and reason (once per reason given).",
                                 ["rpc", "reason"], registry=registry)
        self._verdict_children: dict[tuple[str, int], Any] = {}
        registry.register(_AnswerValues(watchers=watchers, cached=cached))

    def verdict(self, rpc: str, reasons: Sequence[common_pb2.Reason]) -> None:
        for reason in reasons:
            child = self._verdict_children.get((rpc, reason))
            if child is None:  # label look-up once per (rpc, reason): Verify is the hot path
                child = self._verdict_children[(rpc, reason)] = self._verdicts.labels(rpc, reason_code(reason))
            child.inc()


class RegistryMetrics:
    """All of one registry's metrics, in a registry of their own (several registries may share a process).
    ``answers`` None: this process answers gRPC itself (one worker) and counts its answers here;
    otherwise a collector of what the worker processes answered (``credverify.registry.workers``)."""

    def __init__(self, *, records_consumed: Callable[[], int], lag: Callable[[], dict[str, int]],
                 watchers: Callable[[], int], cached: Callable[[], int], stall: StallWatch | None = None,
                 answers: Collector | None = None) -> None:
        self.registry = CollectorRegistry()
        self.answers: AnswerMetrics | None = None
        if answers is None:
            self.answers = AnswerMetrics(self.registry, watchers=watchers, cached=cached)
        else:
            self.registry.register(answers)
        self._dead_letters = Counter("credverify_registry_dead_letters_total",
                                     "Records refused and sent to the dead-letter topic, by reason.",
                                     ["reason"], registry=self.registry)
        self._unpublished = Counter(
            "credverify_registry_dead_letters_unpublished_total",
            "Records refused whose dead letter could not be published after bounded retries, by reason: "
            "each is kept in the store's rejections with the error, and ingest went on.",
            ["reason"], registry=self.registry)
        self._accepted = Counter("credverify_registry_attestations_accepted_total",
                                 "Attestation versions verified and stored.", registry=self.registry)
        self._issuer_records = Counter("credverify_registry_issuer_records_accepted_total",
                                       "Issuer records verified and adopted into the trust list.",
                                       registry=self.registry)
        self.registry.register(_IngestValues(records_consumed=records_consumed, lag=lag, stall=stall or StallWatch()))

    @property
    def grpc(self) -> GrpcServerMetrics | None:
        return self.answers.grpc if self.answers is not None else None

    def verdict(self, rpc: str, reasons: Sequence[common_pb2.Reason]) -> None:
        if self.answers is not None:
            self.answers.verdict(rpc, reasons)

    def committed(self, batch: IngestBatch) -> None:
        for rejection in batch.rejections:
            self._dead_letters.labels(reason_code(rejection.reason)).inc()
            if rejection.dead_letter_error:
                self._unpublished.labels(reason_code(rejection.reason)).inc()
        self._accepted.inc(len(batch.attestations))
        self._issuer_records.inc(len(batch.issuers))
