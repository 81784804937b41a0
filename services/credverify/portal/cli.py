"""`credverify flows portal`: serve the public portal of flow statistics."""

from __future__ import annotations

import argparse
import os
from typing import Any

from credverify.core.cli_support import EXIT_OK, add_kafka_argument
from credverify.core.errors import ConfigurationError

LISTEN_ENV = "CREDVERIFY_PORTAL_LISTEN"
REFRESH_ENV = "CREDVERIFY_PORTAL_REFRESH"


def add_command(commands: Any) -> None:
    """Add ``portal`` to the subcommands of ``credverify flows``."""
    portal = commands.add_parser(
        "portal", help="serve the public, read-only portal: charts, tables and CSV of the published statistics")
    portal.add_argument("--listen", help="host:port (default $%s or 127.0.0.1:8090)" % LISTEN_ENV)
    portal.add_argument("--refresh", type=float,
                        help="seconds between rebuilds of the pages from new statistics (default $%s or 30)"
                             % REFRESH_ENV)
    add_kafka_argument(portal)
    portal.set_defaults(handler=_portal)


def _portal(args: argparse.Namespace) -> int:
    # Imported here: Altair and uvicorn, which the other commands of `credverify flows` need not load.
    from credverify.core.settings import KafkaSettings
    from credverify.portal import bootstrap

    listen = args.listen or os.environ.get(LISTEN_ENV) or bootstrap.DEFAULT_LISTEN
    try:
        refresh = args.refresh if args.refresh is not None else float(
            os.environ.get(REFRESH_ENV) or bootstrap.DEFAULT_REFRESH_S)
    except ValueError as exc:
        raise ConfigurationError("$%s: expected seconds, found %r" % (REFRESH_ENV, os.environ.get(REFRESH_ENV))) \
            from exc
    if refresh <= 0:
        raise ConfigurationError("--refresh: expected a positive number of seconds, found %s" % refresh)
    bootstrap.serve(KafkaSettings.from_env(args.bootstrap), listen=listen, refresh=refresh)
    return EXIT_OK
