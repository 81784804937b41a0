"""`credverify flows` (also `credverify flowstats`): run the worker, read and export what it publishes."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import json_format

from credverify.core.adapters.kafka import ensure_topics, new_consumer, partitions_of
from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.codes import check_country
from credverify.core.errors import ConfigurationError, InvalidInput
from credverify.core.settings import KafkaSettings
from credverify.flowstats import export
from credverify.flowstats.defaults import DEFAULT_GRACE, DEFAULT_K, DEFAULT_PROVISIONAL_INTERVAL, MIN_K
from credverify.flowstats.windows import PERIOD_PATTERN, parse_duration
from credverify.v1 import moves_pb2

if TYPE_CHECKING:
    from credverify.flowstats.settings import FlowSettings


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = commands.add_parser("worker", help="run the Faust worker that counts moves and publishes statistics")
    worker.add_argument("--k", type=int, default=int(os.environ.get("CREDVERIFY_FLOW_K", DEFAULT_K)),
                        help="suppress statistics below this count (default %d, env CREDVERIFY_FLOW_K)" % DEFAULT_K)
    worker.add_argument("--grace", default=os.environ.get("CREDVERIFY_FLOW_GRACE", DEFAULT_GRACE),
                        help="how long after a month's end late moves still count, e.g. 7d, 36h "
                             "(default %s, env CREDVERIFY_FLOW_GRACE)" % DEFAULT_GRACE)
    worker.add_argument("--provisional-interval",
                        default=os.environ.get("CREDVERIFY_FLOW_PROVISIONAL_INTERVAL", DEFAULT_PROVISIONAL_INTERVAL),
                        help="at most one provisional release per open month this often (default %s)"
                             % DEFAULT_PROVISIONAL_INTERVAL)
    worker.add_argument("--region-level", default="region", choices=["region", "sub-region", "intermediate-region"],
                        help="UN M49 level that tells intra- from inter-regional moves (default region)")
    worker.add_argument("--dp-epsilon", type=float, default=None,
                        help="publish with differential privacy instead of suppression: epsilon per release")
    worker.add_argument("--dp-window-budget", type=float, default=None,
                        help="total epsilon per month (default 4 x --dp-epsilon: three provisional releases "
                             "and the final one)")
    worker.add_argument("--dp-destinations", default=os.environ.get("CREDVERIFY_FLOW_DP_DESTINATIONS", ""),
                        help="comma-separated destination countries (the federation's registries): the public "
                             "domain differential privacy needs fixed in advance")
    worker.add_argument("--replication-factor", type=int,
                        default=int(os.environ.get("CREDVERIFY_FLOW_REPLICATION_FACTOR", "1")),
                        help="replication of the worker's internal topics, which hold its state (default 1, "
                             "for a single broker; use the cluster's, e.g. 3, in production)")
    worker.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("CREDVERIFY_FLOWSTATS_DIR", "flowstats-data")))
    add_kafka_argument(worker)
    worker.set_defaults(handler=_worker)

    tail = commands.add_parser("tail", help="print the latest value of every statistic on the topic")
    tail.add_argument("--idle-timeout", type=float, default=5.0, help="stop after this long without news")
    tail.add_argument("--json", action="store_true")
    add_kafka_argument(tail)
    tail.set_defaults(handler=_tail)

    exporter = commands.add_parser(
        "export", help="write the statistics as CSV or JSON, laid out like OECD.Stat's exports")
    exporter.add_argument("--format", choices=["csv", "json"], default="csv")
    exporter.add_argument("--output", type=Path, help="file to write (default standard output)")
    exporter.add_argument("--final-only", action="store_true", help="only months whose window has closed")
    exporter.add_argument("--period", action="append", default=[], metavar="YYYY-MM",
                          help="only this month (repeatable)")
    exporter.add_argument("--idle-timeout", type=float, default=5.0, help="stop reading after this long without news")
    add_kafka_argument(exporter)
    exporter.set_defaults(handler=_export)


def worker_settings(args: argparse.Namespace) -> FlowSettings:
    """Return the worker's settings from its arguments. Raises ConfigurationError naming what is wrong."""
    # Imported here: numerical libraries that other commands need not load.
    from credverify.flowstats.privacy import PrivacyPolicy
    from credverify.flowstats.regions import load_m49
    from credverify.flowstats.releases import ReleasePolicy
    from credverify.flowstats.settings import PARTITIONS, FlowSettings


    if args.k < MIN_K:
        raise ConfigurationError("--k: expected at least %d, found %d" % (MIN_K, args.k))
    try:
        grace = parse_duration(args.grace, field="--grace")
        interval = parse_duration(args.provisional_interval, field="--provisional-interval")
        privacy = None
        if args.dp_epsilon is not None:
            destinations = tuple(
                check_country("--dp-destinations", code.strip().upper())
                for code in args.dp_destinations.split(",") if code.strip()
            )
            budget = args.dp_window_budget if args.dp_window_budget is not None else 4 * args.dp_epsilon
            privacy = PrivacyPolicy(epsilon=args.dp_epsilon, window_budget=budget, destinations=destinations)
    except InvalidInput as exc:
        raise ConfigurationError(str(exc)) from exc
    policy = ReleasePolicy(k=args.k, regions=load_m49(args.region_level), grace=grace,
                           provisional_interval=interval, partitions=PARTITIONS, privacy=privacy)
    if args.replication_factor < 1:
        raise ConfigurationError("--replication-factor: expected at least 1, found %d" % args.replication_factor)
    return FlowSettings(kafka=KafkaSettings.from_env(args.bootstrap), data_dir=args.data_dir, policy=policy,
                        replication_factor=args.replication_factor)


def _worker(args: argparse.Namespace) -> int:
    import faust

    from credverify.flowstats.app import create_app

    settings = worker_settings(args)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    topics = settings.kafka.topics
    ensure_topics(settings.kafka,
                  only=[topics.verified_moves, topics.flow_statistics, topics.rejected])
    check_partitions(settings)
    app = create_app(settings)
    worker = faust.Worker(app, loglevel=args.log_level.lower())
    worker.execute_from_commandline()  # returns on SIGTERM/SIGINT after a clean stop
    return EXIT_OK


def check_partitions(settings: FlowSettings) -> None:
    """Raise ConfigurationError unless the moves topic has the partitions the worker's state is laid out for."""
    from credverify.flowstats.settings import PARTITIONS

    found = partitions_of(settings.kafka, settings.kafka.topics.verified_moves, client_id="credverify-flows")
    if len(found) != PARTITIONS:
        raise ConfigurationError(
            "%s: expected %d partitions (the layout of the worker's state), found %d"
            % (settings.kafka.topics.verified_moves, PARTITIONS, len(found))
        )


def read_statistics(kafka: KafkaSettings, topic: str, *, idle_timeout: float) -> dict[str, moves_pb2.FlowStatistic]:
    """Return the latest statistic per record key, reading the topic from the beginning until idle."""
    latest: dict[str, moves_pb2.FlowStatistic] = {}
    for key, stat in read_all_statistics(kafka, topic, idle_timeout=idle_timeout):
        latest[key] = stat
    return latest


def read_all_statistics(kafka: KafkaSettings, topic: str, *, idle_timeout: float
                        ) -> list[tuple[str, moves_pb2.FlowStatistic]]:
    """Return every record on the statistics topic in order (key, statistic), reading until idle."""
    consumer = new_consumer(kafka, "credverify-flows-reader", topic)
    found: list[tuple[str, moves_pb2.FlowStatistic]] = []
    try:
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < idle_timeout:
            polled = consumer.poll(timeout_ms=200)
            for batch in polled.values():
                for record in batch:
                    found.append((record.key.decode(), moves_pb2.FlowStatistic.FromString(record.value)))
                    quiet_since = time.monotonic()
    finally:
        consumer.close()
    found.sort(key=lambda item: (item[1].released_at.seconds, item[1].released_at.nanos, item[1].release))
    return found


def _tail(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings, settings.topics.flow_statistics,
                             idle_timeout=args.idle_timeout)
    for key in sorted(latest):
        stat = latest[key]
        if args.json:
            print(json.dumps(json_format.MessageToDict(stat)))
        else:
            print("%s  %-6s -> %-3s %-12s %-8s %10s  %s %s, %s" % (
                stat.period, stat.origin_country, stat.destination_country, stat.profession_group,
                stat.measure or "moves", "suppressed" if stat.suppressed else stat.value, stat.method,
                ",".join("%s=%s" % kv for kv in sorted(stat.parameters.items()) if kv[0] in ("k", "epsilon")),
                "final" if stat.final else "provisional"))
    return EXIT_OK if latest else EXIT_PARTIAL


def _export(args: argparse.Namespace) -> int:
    for period in args.period:
        if not PERIOD_PATTERN.match(period):
            raise InvalidInput("--period: expected YYYY-MM, found %r" % period)
    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings, settings.topics.flow_statistics,
                             idle_timeout=args.idle_timeout)
    chosen = [
        stat for stat in latest.values()
        if (not args.final_only or stat.final) and (not args.period or stat.period in args.period)
    ]
    text = export.to_csv(chosen) if args.format == "csv" else export.to_json(chosen)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print("wrote %d statistics to %s (%s)" % (len(chosen), args.output,
                                                  dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
              file=sys.stderr)
    return EXIT_OK if chosen else EXIT_PARTIAL
