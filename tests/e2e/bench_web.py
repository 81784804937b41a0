"""Response times of the case officer's verify page under 8 concurrent officers: a benchmark, not a
test (pytest does not collect it). Starts the pages, a registry and an issuer service on the broker
named by $KAFKA_BOOTSTRAP_SERVERS or on a local one it starts and stops, as the browser tests do.

    .venv/bin/python -m tests.e2e.bench_web [--users 8] [--requests 50]

The last line of stdout is one JSON object: web.verify_p50_ms, web.verify_p95_ms, web.verify_p99_ms and
web.verify_rps for the POST that verifies (the registry's Verify over gRPC, the audit record, the page).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

import tests.conftest  # noqa: F401 - the key passphrase every test key uses
from tests.conftest import localkafka
from tests.e2e.web_stack import WebStack, web_stack
from tests.web_support import PASSWORD, csrf_of, sign_in


def _officer(stack: WebStack, number: int, requests: int, latencies: list[float], start: threading.Barrier) -> None:
    username = "bench.officer%d" % number
    stack.web.add_account(username=username, role="case-officer", scope="GB", password=PASSWORD)
    with httpx.Client(base_url=stack.web.url, timeout=30) as client:
        assert sign_in(client, username).status_code == 303
        presentation = stack.presentation()
        form = {"presentation": presentation, "family_name": "Wanjiru", "given_names": "Grace Akinyi",
                "date_of_birth": "1992-03-14"}
        csrf = csrf_of(client.get("/verify").text)
        for _ in range(5):  # warm-up: connections, caches
            client.post("/verify", data={"csrf": csrf, **form}).raise_for_status()
        start.wait()
        for _ in range(requests):
            began = time.perf_counter()
            answer = client.post("/verify", data={"csrf": csrf, **form})
            latencies.append(time.perf_counter() - began)
            assert answer.status_code == 200 and "Verified" in answer.text, answer.text[:500]


def measure(stack: WebStack, users: int, requests: int) -> dict[str, float]:
    latencies: list[float] = []
    start = threading.Barrier(users + 1)
    threads = [threading.Thread(target=_officer, args=(stack, n, requests, latencies, start)) for n in range(users)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    cuts = statistics.quantiles(latencies, n=100)
    return {"web.verify_p50_ms": round(cuts[49] * 1000, 1), "web.verify_p95_ms": round(cuts[94] * 1000, 1),
            "web.verify_p99_ms": round(cuts[98] * 1000, 1), "web.verify_rps": round(len(latencies) / elapsed, 1),
            "web.verify_requests": len(latencies), "web.users": users}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--requests", type=int, default=50, help="verifications per user")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="credverify-bench-web-"))
    broker = None
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if not bootstrap:
        broker = localkafka.LocalKafka(state_dir=work / "kafka").start()
        os.environ.update({k: v for k, v in broker.operator_env().items() if k != "KAFKA_BOOTSTRAP_SERVERS"})
        bootstrap = broker.bootstrap
    try:
        stacks = web_stack(bootstrap, work / "stack")
        stack = next(stacks)
        try:
            results = measure(stack, args.users, args.requests)
        finally:
            stacks.close()
    finally:
        if broker is not None:
            broker.stop()
    for name, value in sorted(results.items()):
        print("%-26s %10s" % (name, value), file=sys.stderr)
    print(json.dumps(results, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
