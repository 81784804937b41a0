"""`credverify hub`: the federation operator's services on the hub itself.

    credverify hub admit    verify what each council submits to its own topic and write the
                            valid records, alone, to the compacted attestations topic

Exit codes: 0 stopped by SIGTERM/SIGINT after the batch in hand; 2 bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from credverify.admission import bootstrap
from credverify.admission.bootstrap import AdmissionSettings
from credverify.core.adapters.grpc_server_kit import stop_on_signals
from credverify.core.adapters.observability import configure_logging
from credverify.core.cli_support import add_kafka_argument


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    admit = commands.add_parser("admit", help="admit valid submissions to the attestations topic (serve)")
    admit.add_argument("--db", type=Path, help="SQLite index of what was admitted "
                                               "(default $CREDVERIFY_ADMISSION_DB or admission.db)")
    admit.add_argument("--root-key", action="append", help="federation root public key PEM (repeatable; "
                                                           "default $CREDVERIFY_ROOT_KEYS, comma-separated)")
    admit.add_argument("--health-file", type=Path,
                       help="JSON file rewritten every second: SERVING or NOT_SERVING with the reason, and "
                            "counts ($CREDVERIFY_ADMISSION_HEALTH_FILE; default: none)")
    admit.add_argument("--log-format", choices=("json", "text"),
                       default=os.environ.get("CREDVERIFY_LOG_FORMAT", "json"), help="json lines (default) or text")
    add_kafka_argument(admit)
    admit.set_defaults(handler=_admit)


def _admit(args: argparse.Namespace) -> int:
    configure_logging(args.log_level, json_lines=args.log_format == "json")
    settings = AdmissionSettings.from_env(args)
    return bootstrap.run(settings, stop_on_signals())
