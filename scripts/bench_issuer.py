"""Issuer figures: attestations signed, published and confirmed per second, and a register of
100,000 rows through the bulk command."""

from __future__ import annotations

import csv
import datetime as dt
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchkit import BenchContext, benchmark, delete_topics, rate
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from credverify.core.adapters.kafka import ConfirmingProducer, ensure_submission_topic
from credverify.core.envelope import Signer
from credverify.core.topics import Topics
from credverify.issuer.adapters.sqlite_ledger import SqliteIssuedLedger
from credverify.issuer.domain import IssueAttestation
from credverify.issuer.handlers import BULK_BATCH, issue
from credverify.issuer.register_csv import REQUIRED_COLUMNS
from credverify.v1 import common_pb2

logger = logging.getLogger("bench")

PUBLISH_COUNT = 10_000
ISSUER_ID = "KE-NCK"
BULK_ROWS = 100_000


def orders(count: int) -> list[IssueAttestation]:
    return [
        IssueAttestation(
            issuer_id=ISSUER_ID, jurisdiction="KE", local_number=str(100_000 + i),
            kind=common_pb2.CREDENTIAL_KIND_LICENCE, practitioner_number="NCK-%d" % (100_000 + i),
            family_name="Wanjiru", given_names="Grace Akinyi", date_of_birth=dt.date(1990, 1, 1 + i % 28),
            country_of_training="KE", profession_isco="2221", valid_from=dt.date(2024, 1, 1),
            valid_until=dt.date(2027, 12, 31),
        )
        for i in range(count)
    ]


@benchmark("issuer.publish_per_s", "issuer.publish_ratio")
def bench_issuer_publish(ctx: BenchContext) -> dict[str, float]:
    """10,000 orders through the issuer's handler as `credverify issuer bulk` runs it: build and
    validate, consult the ledger, sign, record, publish to the council's submission topic (acks=all,
    idempotent), record the confirmations. The ratio divides by the slower of signing alone and
    producing alone."""
    per_s = issuer_publish_per_s(ctx)
    slower = min(ctx.figure("baseline.ed25519_sign_per_s"), ctx.figure("baseline.produce_per_s"))
    return {"issuer.publish_per_s": per_s, "issuer.publish_ratio": per_s / slower}


def issuer_publish_per_s(ctx: BenchContext) -> float:
    """Issue PUBLISH_COUNT orders on ``ctx``'s broker, into a submission topic of their own (made first,
    as the operator does when a council is admitted, and deleted when the run ends); return the
    attestations confirmed per second. Raises RuntimeError when any is not confirmed."""
    kafka = ctx.kafka_settings(Topics(prefix="bench-%d." % time.time_ns()))
    topic = ensure_submission_topic(kafka, ISSUER_ID)
    ctx.defer(delete_topics, kafka, [topic])
    signer = Signer(Ed25519PrivateKey.generate())
    commands = orders(PUBLISH_COUNT)
    with tempfile.TemporaryDirectory(prefix="credverify-bench-ledger-") as work:
        ledger = SqliteIssuedLedger(Path(work) / "ledger.db")
        producer = ConfirmingProducer(kafka, client_id="credverify-bench-issuer")
        try:
            # Connection, metadata and producer id once, outside the measured window.
            issue(orders(1), signer=signer, publisher=producer, topics=kafka.topics, ledger=ledger,
                  now=dt.datetime.now(dt.UTC))
            started = time.perf_counter()
            confirmed = 0
            for start in range(0, PUBLISH_COUNT, BULK_BATCH):
                events = issue(commands[start:start + BULK_BATCH], signer=signer, publisher=producer,
                               topics=kafka.topics, ledger=ledger, now=dt.datetime.now(dt.UTC))
                confirmed += sum(e.confirmed for e in events)
            seconds = time.perf_counter() - started
        finally:
            producer.close()
            ledger.close()
    if confirmed != PUBLISH_COUNT:
        raise RuntimeError("%d of %d attestations confirmed" % (confirmed, PUBLISH_COUNT))
    return rate(PUBLISH_COUNT, seconds)


@benchmark("issuer.bulk_100k_s", "issuer.bulk_100k_peak_mib", full_only=True)
def bench_issuer_bulk(ctx: BenchContext) -> dict[str, float]:
    """A register export of 100,000 rows through `credverify issuer bulk` as a separate process:
    wall time and the process's peak resident memory."""
    kafka = ctx.kafka_settings(Topics(prefix="bench-%d." % time.time_ns()))
    # The council publishes to its submission topic, which the operator creates when admitting it.
    ctx.defer(delete_topics, kafka, [ensure_submission_topic(kafka, ISSUER_ID)])
    with tempfile.TemporaryDirectory(prefix="credverify-bench-bulk-") as work:
        register = Path(work) / "register.csv"
        with register.open("w", newline="") as out:
            writer = csv.writer(out)
            writer.writerow(REQUIRED_COLUMNS)
            for i in range(BULK_ROWS):
                writer.writerow([str(200_000 + i), "LICENCE", "NCK-%d" % (200_000 + i), "Otieno", "Brian %d" % i,
                                 "1988-11-%02d" % (1 + i % 28), "KE", "2221", "ACTIVE", "2024-01-01", "2027-12-31"])
        env = dict(ctx.child_env(kafka.topics.prefix),
                   CREDVERIFY_KEY_PASSPHRASE="bench passphrase, never for real keys")
        subprocess.run([sys.executable, "-m", "credverify.cli", "issuer", "keygen", "--key", "ke.key"],
                       env=env, cwd=work, check=True, capture_output=True)
        peak_file = Path(work) / "peak-kib"
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", MEASURED_CLI, str(peak_file), "issuer", "bulk", "--key", "ke.key",
                               "--issuer-id", ISSUER_ID, "--jurisdiction", "KE", "--register", str(register),
                               "--no-progress"], env=env, cwd=work, capture_output=True, text=True)
        seconds = time.perf_counter() - started
        if done.returncode != 0 or "%d published and confirmed" % BULK_ROWS not in done.stdout:
            raise RuntimeError("bulk issue failed (%d):\n%s%s" % (done.returncode, done.stdout[-2000:],
                                                                  done.stderr[-2000:]))
        peak_kib = int(peak_file.read_text())
    return {"issuer.bulk_100k_s": seconds, "issuer.bulk_100k_peak_mib": peak_kib / 1024}


# Runs `credverify ARGS` in this interpreter and writes its own peak resident memory (KiB) to a file:
# the parent's RUSAGE_CHILDREN would also count other children (the broker's tools).
MEASURED_CLI = """
import resource, sys
from credverify.cli import main
code = main(sys.argv[2:])
with open(sys.argv[1], "w") as out:
    out.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""
