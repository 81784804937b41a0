"""What every service's command line shares: exit codes and the Kafka argument.

Exit codes: 0 done; 1 done in part (some records not confirmed, a verdict other than VERIFIED);
2 bad arguments, configuration or input.
"""

from __future__ import annotations

import argparse

EXIT_OK = 0
EXIT_PARTIAL = 1
EXIT_USAGE = 2


def add_kafka_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default $KAFKA_BOOTSTRAP_SERVERS "
                                            "or 127.0.0.1:9092)")
