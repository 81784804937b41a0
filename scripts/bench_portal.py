"""Benchmark (not a test): how long the statisticians' portal takes to load five years of monthly flow
statistics for 30 destinations.

    .venv/bin/python scripts/bench_portal.py [--months 60] [--destinations 30] [--no-browser]

Makes the statistics a flows worker would publish (final months; 12 issuing countries, 6 professions,
their totals, regional scopes, the safeguards-list series and returns; small cells suppressed), then
times: building the portal's in-memory snapshot from them (what the feed does after reading the
topic), the first page with every filter left open (nothing cached), the same page again (cached), a
filtered page, and, unless --no-browser, Debian's Chromium loading the page until every chart is drawn.
Prints one line per figure.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import time
from pathlib import Path

from google.protobuf.timestamp_pb2 import Timestamp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from credverify.portal.bootstrap import PortalServer  # noqa: E402
from credverify.portal.model import Statistics  # noqa: E402
from credverify.portal.source import FixedStatistics  # noqa: E402
from credverify.v1 import moves_pb2  # noqa: E402

ORIGINS = ["KE", "NG", "GH", "ZW", "RO", "PL", "IN", "PH", "LK", "PK", "TT", "JM"]
LISTED = {"KE", "NG", "GH", "ZW", "PK"}  # on the WHO safeguards list 2023 (a sample, for the series)
DESTINATIONS = ["GB", "IE", "DE", "FR", "NL", "BE", "SE", "NO", "DK", "FI", "ES", "PT", "IT", "AT", "CH", "CZ", "US",
                "CA", "AU", "NZ", "AE", "SA", "QA", "SG", "JP", "KR", "ZA", "BW", "NA", "MU"]
PROFESSIONS = ["doctors", "nurses", "midwives", "dentists", "pharmacists", "other"]
K = 5


def stat(period: str, origin: str, destination: str, profession: str, value: int, measure: str = "moves",
         listed: bool = False) -> moves_pb2.FlowStatistic:
    hidden = 0 < value < K
    return moves_pb2.FlowStatistic(
        period=period, origin_country=origin, destination_country=destination, profession_group=profession,
        value=0 if hidden else value, suppressed=hidden, method="threshold", final=True, measure=measure, release=3,
        parameters={"k": str(K), "safeguards_list": "who-hwssl:2023"}, safeguards_list=listed,
        released_at=Timestamp(seconds=1_790_000_000), country_of_training="_T")


def month_of(period: str, destinations: list[str], rng: random.Random) -> list[moves_pb2.FlowStatistic]:
    found = []
    grand = 0
    for destination in destinations:
        by_dest = 0
        for origin in ORIGINS:
            pair = 0
            for profession in PROFESSIONS:
                value = max(0, int(rng.gauss(12, 10)))
                if value:
                    found.append(stat(period, origin, destination, profession, value, listed=origin in LISTED))
                pair += value
            if pair:
                found.append(stat(period, origin, destination, "_T", pair, listed=origin in LISTED))
            by_dest += pair
        found += [stat(period, "_T", destination, "_T", by_dest),
                  stat(period, "_INTRA", destination, "_T", by_dest // 3),
                  stat(period, "_INTER", destination, "_T", by_dest - by_dest // 3),
                  stat(period, "_SSL", destination, "_T", by_dest // 2, listed=True),
                  stat(period, "_T", destination, "_T", by_dest // 20, measure="returns")]
        grand += by_dest
    found += [stat(period, "_T", "_T", "_T", grand), stat(period, "_T", "_T", "_T", grand // 20, measure="returns")]
    return found


def timed(action: object) -> float:
    start = time.perf_counter()
    action()  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--months", type=int, default=60)
    parser.add_argument("--destinations", type=int, default=30)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()
    rng = random.Random(7)
    periods = ["%d-%02d" % (2021 + m // 12, m % 12 + 1) for m in range(args.months)]
    published = [s for period in periods for s in month_of(period, DESTINATIONS[:args.destinations], rng)]
    print("statistics: %d (%d months, %d destinations)" % (len(published), args.months, args.destinations))
    print("portal.snapshot_build_s %.2f" % timed(lambda: Statistics(published)))

    import httpx

    server = PortalServer(FixedStatistics(published), "127.0.0.1:0").start()
    try:
        client = httpx.Client(base_url=server.url, timeout=300)
        first = timed(lambda: client.get("/").raise_for_status())  # builds the snapshot, then the page
        again = [timed(lambda: client.get("/").raise_for_status()) for _ in range(5)]
        filtered = timed(lambda: client.get("/", params={"destination": "GB", "profession": "nurses",
                                                         "from": periods[-12], "to": periods[-1]}).raise_for_status())
        size = len(client.get("/").content)
        print("portal.first_page_s %.2f (every month, destination, origin, profession; %d KiB)" % (first, size // 1024))
        print("portal.cached_page_ms %.1f (median of 5)" % (1000 * statistics.median(again)))
        print("portal.filtered_page_s %.2f (GB, nurses, last 12 months, not cached)" % filtered)
        if not args.no_browser:
            print("portal.browser_load_s %.2f (Chromium, page loaded and every chart drawn, page cached)"
                  % browser_load(server.url))
    finally:
        server.stop()
    return 0


def browser_load(url: str) -> float:
    from playwright.sync_api import sync_playwright

    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        raise SystemExit("no Chromium: apt-get install chromium, or run with --no-browser")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                             args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            start = time.perf_counter()
            page.goto(url + "/")
            page.wait_for_function(
                "Array.from(document.querySelectorAll('[data-spec]')).every(e => e.dataset.rendered === 'yes')",
                timeout=300_000)
            return time.perf_counter() - start
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
