"""What closing the hub costs: the same work on an open broker and on a closed one, in one run.

    hub.produce_per_s_open           baseline.produce_per_s's measurement on a broker without authentication
    hub.produce_per_s_closed         the same on the closed broker (SASL/SCRAM-SHA-512 and ACLs, as the hub)
    hub.auth_ratio                   closed over open
    hub.issuer_publish_per_s_open    issuer.publish_per_s's measurement on each broker,
    hub.issuer_publish_per_s_closed  and closed over open
    hub.issuer_publish_ratio
    hub.registry_ingest_per_s_open   registry.ingest_per_s's measurement on each broker,
    hub.registry_ingest_per_s_closed and closed over open
    hub.registry_ingest_ratio
    hub.ready_s_open                 start-to-ready of each broker (LocalKafka.ready_after_s)
    hub.ready_s_closed

The closed broker is the run's own; the open one is started beside it, in a state dir of its own,
and stopped when this benchmark ends. Both sides are measured here, one after the other, with both
brokers up, so that neither has the machine to itself, after a discarded warm-up on each. The closed
broker's start-up was measured when the run began, with no second broker running; the open one
starts while the closed one idles beside it.
"""

from __future__ import annotations

from bench_baseline import produce_per_s
from bench_issuer import issuer_publish_per_s
from bench_registry import ingest_per_s
from benchkit import BenchContext, benchmark


@benchmark(
    "hub.produce_per_s_open", "hub.produce_per_s_closed", "hub.auth_ratio",
    "hub.issuer_publish_per_s_open", "hub.issuer_publish_per_s_closed", "hub.issuer_publish_ratio",
    "hub.registry_ingest_per_s_open", "hub.registry_ingest_per_s_closed", "hub.registry_ingest_ratio",
    "hub.ready_s_open", "hub.ready_s_closed",
)
def bench_hub_security(ctx: BenchContext) -> dict[str, float]:
    """Each measurement on the open broker, then on the closed one; ratios are closed over open."""
    # A configured broker may be remote or differently set up: compare two local brokers instead.
    closed = ctx.side_broker(secure=True) if ctx.configured_broker else ctx
    opened = ctx.side_broker(secure=False)
    try:
        closed.kafka_bootstrap  # noqa: B018 - started first: the run's broker is already up
        opened.kafka_bootstrap  # noqa: B018
        figures = {"hub.ready_s_open": _ready_s(opened), "hub.ready_s_closed": _ready_s(closed)}
        # The open broker's JVM has not yet compiled its hot paths; the run's broker has served every
        # benchmark before this one. One discarded produce on each, so both are measured warm.
        for broker in (opened, closed):
            _produce_per_s(broker)
        for name, measure in (("produce_per_s", _produce_per_s), ("issuer_publish_per_s", issuer_publish_per_s),
                              ("registry_ingest_per_s", ingest_per_s)):
            figures["hub.%s_open" % name] = measure(opened)
            figures["hub.%s_closed" % name] = measure(closed)
    finally:
        opened.close()
        if closed is not ctx:
            closed.close()
    figures["hub.auth_ratio"] = figures["hub.produce_per_s_closed"] / figures["hub.produce_per_s_open"]
    figures["hub.issuer_publish_ratio"] = (figures["hub.issuer_publish_per_s_closed"]
                                           / figures["hub.issuer_publish_per_s_open"])
    figures["hub.registry_ingest_ratio"] = (figures["hub.registry_ingest_per_s_closed"]
                                            / figures["hub.registry_ingest_per_s_open"])
    return figures


def _produce_per_s(ctx: BenchContext) -> float:
    return produce_per_s(ctx.kafka_settings(), ctx.new_topic("hub", partitions=3))


def _ready_s(ctx: BenchContext) -> float:
    if ctx.broker_ready_s is None:
        raise RuntimeError("no start-up time: the broker at %s was not started by this run" % ctx.kafka_bootstrap)
    return ctx.broker_ready_s
