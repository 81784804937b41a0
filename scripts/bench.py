"""Measure the throughput figures that credverify's performance work is judged by.

    python scripts/bench.py                     # every benchmark (make bench)
    python scripts/bench.py --only baseline.ed  # only figures whose names start so
    python scripts/bench.py --list              # the figures each benchmark reports
    python scripts/bench.py --full              # also the long runs (make bench FULL=1)

Each figure is printed to stderr as it is measured; the last line of stdout is
one JSON object holding every figure of the run, keys sorted. Kafka figures use
the broker named by KAFKA_BOOTSTRAP_SERVERS, or else a local broker started
(and stopped) by this script.

The framework is scripts/benchkit.py; the benchmarks are scripts/bench_*.py, one
module per area, imported below in the order they run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time

# Importing a module registers its benchmarks, in import order. A ratio asks the context for its
# baseline (ctx.figure), which measures it on the spot if it has not run yet.
import bench_baseline  # noqa: F401
import bench_flowstats  # noqa: F401
import bench_hub_security  # noqa: F401 - imports issuer and registry first, so registers after them
import bench_issuer  # noqa: F401
import bench_rebuild  # noqa: F401 - imports bench_registry first, so registers after it
import bench_registry  # noqa: F401
from benchkit import BENCHMARKS, BenchContext, run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="also the long runs (millions of records)")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PREFIX",
        help="run only benchmarks reporting a figure whose name starts with PREFIX (repeatable)",
    )
    parser.add_argument("--list", action="store_true", help="list the benchmarks and their figures, then exit")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(name)s: %(message)s",
    )
    # kafka-python warns about routine metadata refreshes while topics are created and deleted.
    logging.getLogger("kafka").setLevel(logging.ERROR)

    if args.list:
        for bench in BENCHMARKS:
            print(f"{bench.name}: {', '.join(bench.figures)}{' (--full only)' if bench.full_only else ''}")
        return 0
    selected = [b for b in BENCHMARKS if b.selected_by(args.only)]
    if not selected:
        print(f"error: no figure starts with {' or '.join(args.only)}", file=sys.stderr)
        return 2

    started = time.monotonic()
    ctx = BenchContext(full=args.full, kafka_bootstrap=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None)
    try:
        results = run(selected, ctx)
    finally:
        ctx.close()
    # A benchmark that reports several figures runs whole, so drop those --only did not ask for.
    if args.only:
        results = {k: v for k, v in results.items() if any(k.startswith(p) for p in args.only)}
    print(f"{'(wall time, s)':<34} {time.monotonic() - started:>14.1f}", file=sys.stderr)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
