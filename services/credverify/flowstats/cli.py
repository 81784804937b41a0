"""`credverify flowstats`: run the Faust worker, read what it publishes."""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from google.protobuf import json_format
from kafka import KafkaConsumer

from credverify.cli import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.kafka_io import ensure_topics
from credverify.core.settings import KafkaSettings
from credverify.flowstats.domain import DEFAULT_K
from credverify.v1 import moves_pb2


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = commands.add_parser("worker", help="run the Faust worker")
    worker.add_argument("--k", type=int, default=int(os.environ.get("CREDVERIFY_FLOW_K", DEFAULT_K)),
                        help="suppress cells below this count (default %d)" % DEFAULT_K)
    worker.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("CREDVERIFY_FLOWSTATS_DIR", "flowstats-data")))
    add_kafka_argument(worker)
    worker.set_defaults(handler=_worker)

    tail = commands.add_parser("tail", help="print the latest statistic of every cell on the topic")
    tail.add_argument("--idle-timeout", type=float, default=5.0, help="stop after this long without news")
    tail.add_argument("--json", action="store_true")
    add_kafka_argument(tail)
    tail.set_defaults(handler=_tail)


def _worker(args: argparse.Namespace) -> int:
    import faust

    from credverify.flowstats.app import FlowSettings, create_app

    settings = FlowSettings(kafka=KafkaSettings.from_env(args.bootstrap), k=args.k, data_dir=args.data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    ensure_topics(settings.kafka.bootstrap_servers, settings.kafka.topics,
                  only=[settings.kafka.topics.verified_moves, settings.kafka.topics.flow_statistics])
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=args.log_level.lower())
    worker.execute_from_commandline()  # returns on SIGTERM/SIGINT after a clean stop
    return EXIT_OK


def read_statistics(bootstrap: str, topic: str, *, idle_timeout: float) -> dict[str, moves_pb2.FlowStatistic]:
    """Return the latest statistic per cell key, reading from the beginning until idle."""
    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=None,
                             auto_offset_reset="earliest", enable_auto_commit=False)
    latest: dict[str, moves_pb2.FlowStatistic] = {}
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_timeout:
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                for record in batch:
                    latest[record.key.decode()] = moves_pb2.FlowStatistic.FromString(record.value)
                    quiet_since = time.monotonic()
    finally:
        consumer.close()
    return latest


def _tail(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings.bootstrap_servers, settings.topics.flow_statistics,
                             idle_timeout=args.idle_timeout)
    for key in sorted(latest):
        stat = latest[key]
        if args.json:
            print(json.dumps(json_format.MessageToDict(stat)))
        else:
            print("%s  %s -> %s  %-12s %s  (%s k=%s, %s)" % (
                stat.period, stat.origin_country, stat.destination_country, stat.profession_group,
                "suppressed" if stat.suppressed else "%5d" % stat.value, stat.method,
                stat.parameters.get("k", "?"), "final" if stat.final else "provisional"))
    return EXIT_OK if latest else EXIT_PARTIAL
