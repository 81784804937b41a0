"""`credverify flows` (also `credverify flowstats`): run the worker, read and export what it publishes.

Parses arguments, hands them to the composition root (``bootstrap``) or the statistics reader, and
owns the exit codes."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from google.protobuf import json_format

from credverify.core.cli_support import EXIT_OK, EXIT_PARTIAL, add_kafka_argument
from credverify.core.errors import InvalidInput
from credverify.core.settings import KafkaSettings
from credverify.flowstats import export
from credverify.flowstats.adapters.kafka_statistics import read_statistics
from credverify.flowstats.defaults import DEFAULT_GRACE, DEFAULT_K, DEFAULT_PROVISIONAL_INTERVAL
from credverify.flowstats.reports import TABLES
from credverify.flowstats.windows import ANY_PERIOD_PATTERN
from credverify.portal import cli as portal_cli
from credverify.v1 import moves_pb2

if TYPE_CHECKING:
    from credverify.flowstats.bootstrap import WorkerOptions


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    worker = commands.add_parser("worker", help="run the Faust worker that counts moves and publishes statistics")
    worker.add_argument("--k", type=int,
                        help="suppress statistics below this count (default %d, env CREDVERIFY_FLOW_K)" % DEFAULT_K)
    worker.add_argument("--grace",
                        help="how long after a month's end late moves still count, e.g. 7d, 36h "
                             "(default %s, env CREDVERIFY_FLOW_GRACE)" % DEFAULT_GRACE)
    worker.add_argument("--provisional-interval",
                        help="at most one provisional release per open month this often (default %s, "
                             "env CREDVERIFY_FLOW_PROVISIONAL_INTERVAL)" % DEFAULT_PROVISIONAL_INTERVAL)
    worker.add_argument("--region-level", default="region", choices=["region", "sub-region", "intermediate-region"],
                        help="UN M49 level that tells intra- from inter-regional moves (default region)")
    worker.add_argument("--window", choices=["month", "quarter", "year"],
                        help="count by calendar month (default), quarter or year: wider windows suppress less "
                             "(docs/flowstats.md); a quarterly or yearly worker has its own state and group, but "
                             "two windows of the same moves published to one audience can be differenced "
                             "(env CREDVERIFY_FLOW_WINDOW)")
    worker.add_argument("--profession-groups", choices=["fine", "coarse"],
                        help="fine: doctors, nurses, midwives, dentists, pharmacists, other (default); coarse: "
                             "doctors, nurses and midwives, other health professionals: fewer, larger cells "
                             "(env CREDVERIFY_FLOW_PROFESSION_GROUPS)")
    worker.add_argument("--country-of-training", action=argparse.BooleanOptionalAction, default=None,
                        help="also publish flows by country of training beside those by issuing country (costs "
                             "suppression and audit time, see docs/flowstats.md; env "
                             "CREDVERIFY_FLOW_COUNTRY_OF_TRAINING=1)")
    worker.add_argument("--dp-epsilon", type=float, default=None,
                        help="publish with differential privacy instead of suppression: epsilon per release")
    worker.add_argument("--dp-moves-per-person", type=int, default=1,
                        help="with differential privacy, each person counts with at most this many moves per "
                             "window in each of the moves topic's partitions (default 1); the noise is scaled "
                             "for the most one person can add")
    worker.add_argument("--dp-window-budget", type=float, default=None,
                        help="total epsilon per month (default 4 x --dp-epsilon: three provisional releases "
                             "and the final one)")
    worker.add_argument("--dp-destinations",
                        help="comma-separated destination countries (the federation's registries): the public "
                             "domain differential privacy needs fixed in advance (env "
                             "CREDVERIFY_FLOW_DP_DESTINATIONS)")
    worker.add_argument("--replication-factor", type=int,
                        help="replication of the worker's internal topics, which hold its state (env "
                             "CREDVERIFY_FLOW_REPLICATION_FACTOR; default: the deployment's "
                             "CREDVERIFY_REPLICATION_FACTOR, else 3 copies or as many as the cluster has "
                             "brokers)")
    worker.add_argument("--data-dir", type=Path,
                        help="directory of the worker's local state (default flowstats-data, env "
                             "CREDVERIFY_FLOWSTATS_DIR)")
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
    exporter.add_argument("--period", action="append", default=[], metavar="PERIOD",
                          help="only this window, YYYY-MM, YYYY-Qn or YYYY (repeatable)")
    exporter.add_argument("--idle-timeout", type=float, default=5.0, help="stop reading after this long without news")
    add_kafka_argument(exporter)
    exporter.set_defaults(handler=_export)

    report = commands.add_parser(
        "report", help="write an annual report table from the final flows by country of training: OECD Health "
                       "Workforce Migration or WHO Code national reporting layout, as CSV or SDMX-CSV")
    report.add_argument("--table", choices=list(TABLES), required=True)
    report.add_argument("--year", required=True, metavar="YYYY")
    report.add_argument("--format", choices=["csv", "sdmx-csv"], default="csv")
    report.add_argument("--output", type=Path, help="file to write (default standard output)")
    report.add_argument("--structure-output", type=Path,
                        help="also write the SDMX data structure definition (SDMX-ML 2.1) to this file")
    report.add_argument("--idle-timeout", type=float, default=5.0, help="stop reading after this long without news")
    add_kafka_argument(report)
    report.set_defaults(handler=_report)

    portal_cli.add_command(commands)  # credverify flows portal: the public portal (credverify.portal)


def worker_options(args: argparse.Namespace) -> WorkerOptions:
    """Return what the worker's command line gave (None where it gave nothing)."""
    from credverify.flowstats.bootstrap import WorkerOptions

    return WorkerOptions(
        bootstrap=args.bootstrap, k=args.k, grace=args.grace, provisional_interval=args.provisional_interval,
        region_level=args.region_level, dp_epsilon=args.dp_epsilon, dp_window_budget=args.dp_window_budget,
        dp_destinations=args.dp_destinations, replication_factor=args.replication_factor, data_dir=args.data_dir,
        by_training=args.country_of_training, window=args.window, dp_moves_per_person=args.dp_moves_per_person,
        professions=args.profession_groups,
    )


def _worker(args: argparse.Namespace) -> int:
    # Imported here: Faust and the numerical libraries, which the other commands need not load.
    from credverify.flowstats import bootstrap

    settings = bootstrap.settings_from(worker_options(args), os.environ)
    bootstrap.run(settings, log_level=args.log_level)
    return EXIT_OK


def _tail(args: argparse.Namespace) -> int:
    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings, settings.topics.flow_statistics,
                             idle_timeout=args.idle_timeout)
    if args.json:
        for key in sorted(latest):
            print(json.dumps(json_format.MessageToDict(latest[key])))
    else:
        for key in sorted(latest):
            print(tail_line(latest[key]))
        for line in release_summaries(latest.values()):
            print(line)
    return EXIT_OK if latest else EXIT_PARTIAL


def tail_line(stat: moves_pb2.FlowStatistic) -> str:
    """Return one statistic as a line of `flows tail`."""
    training = stat.country_of_training if stat.country_of_training not in ("", "_T") else ""
    return "%s  %-6s%s -> %-3s %-12s %-8s %10s  %s %s, %s" % (
        stat.period, stat.origin_country, " (trained %s)" % training if training else "", stat.destination_country,
        stat.profession_group, stat.measure or "moves", "suppressed" if stat.suppressed else stat.value, stat.method,
        ",".join("%s=%s" % kv for kv in sorted(stat.parameters.items()) if kv[0] in ("k", "epsilon")),
        "final" if stat.final else "provisional")


def release_summaries(statistics: Iterable[moves_pb2.FlowStatistic]) -> list[str]:
    """Return one line per window's latest release: what its disclosure control cost (the share of
    suppressed statistics its parameters state)."""
    latest: dict[str, moves_pb2.FlowStatistic] = {}
    for stat in statistics:
        current = latest.get(stat.period)
        if current is None or stat.release > current.release:
            latest[stat.period] = stat
    lines = []
    for period, stat in sorted(latest.items()):
        cost = stat.parameters.get("suppressed")
        if cost is None:
            continue  # differential privacy suppresses nothing; releases before this parameter say nothing
        lines.append("window %s release %d (%s): %s statistics suppressed (share %s)" % (
            period, stat.release, "final" if stat.final else "provisional", cost,
            stat.parameters.get("suppressed_share", "?")))
    return lines


def _chosen(latest: dict[str, moves_pb2.FlowStatistic], *, final_only: bool, periods: list[str]
            ) -> list[moves_pb2.FlowStatistic]:
    """Return the statistics to export: final ones only when ``final_only``, of ``periods`` when given."""
    return [
        stat for stat in latest.values()
        if (not final_only or stat.final) and (not periods or stat.period in periods)
    ]


def report_text(table: str, text_format: str, statistics: list[moves_pb2.FlowStatistic], year: str
                ) -> tuple[str, int]:
    """Return the report table as text and its number of rows. Raises InvalidInput for a bad year."""
    from credverify.flowstats import report_export
    from credverify.flowstats.reports import report_table
    from credverify.flowstats.safeguards import load_safeguards_list

    try:
        rows = report_table(table, statistics, year, safeguards=load_safeguards_list())
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc
    if text_format == "sdmx-csv":
        return report_export.sdmx_csv(table, rows), len(rows)
    return (report_export.oecd_csv(rows) if table == "oecd" else report_export.who_csv(rows)), len(rows)


def _report(args: argparse.Namespace) -> int:
    from credverify.flowstats.report_export import structure_message

    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings, settings.topics.flow_statistics, idle_timeout=args.idle_timeout)
    text, count = report_text(args.table, args.format, list(latest.values()), args.year)
    if args.structure_output is not None:
        args.structure_output.write_text(structure_message(), encoding="utf-8")
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
    if not count:
        print("no final flows by country of training for %s: they come from a worker run with "
              "--country-of-training (docs/flowstats.md, \"Report tables\")" % args.year, file=sys.stderr)
    return EXIT_OK if count else EXIT_PARTIAL


def _export(args: argparse.Namespace) -> int:
    for period in args.period:
        if not ANY_PERIOD_PATTERN.match(period):
            raise InvalidInput("--period: expected YYYY-MM, YYYY-Qn or YYYY, found %r" % period)
    settings = KafkaSettings.from_env(args.bootstrap)
    latest = read_statistics(settings, settings.topics.flow_statistics,
                             idle_timeout=args.idle_timeout)
    chosen = _chosen(latest, final_only=args.final_only, periods=args.period)
    text = export.to_csv(chosen) if args.format == "csv" else export.to_json(chosen)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text, encoding="utf-8")
        print("wrote %d statistics to %s (%s)" % (len(chosen), args.output,
                                                  dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")),
              file=sys.stderr)
    return EXIT_OK if chosen else EXIT_PARTIAL
