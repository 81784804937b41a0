"""The broker dies in the middle of a bulk issue and comes back: nothing is lost, nothing doubled."""

from __future__ import annotations

import os
import re
import signal
import time
from collections import Counter
from pathlib import Path

from credverify.core.settings import KafkaSettings
from credverify.core.topics import Topics
from credverify.localrun import Service, cli_env, run_cli
from tests.integration.test_admission import create_submission_topic
from tests.integration.test_issuer_bulk import write_register
from tests.topic_reader import end_offsets_total, read_all

ROWS = 20_000


def test_a_broker_killed_during_a_bulk_issue_loses_and_doubles_nothing(
    tmp_path: Path, private_kafka, topics: Topics  # type: ignore[no-untyped-def]
) -> None:
    bootstrap = private_kafka.bootstrap
    env = cli_env(bootstrap, topics.prefix)
    create_submission_topic(KafkaSettings(bootstrap, topics), "KE-NCK")
    submitted = topics.submissions("KE-NCK")
    run_cli(["issuer", "keygen", "--key", "ke.key"], env=env, cwd=tmp_path)
    write_register(tmp_path / "register.csv", ROWS)

    command = Service("bulk", ["issuer", "bulk", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                               "--register", "register.csv", "--no-progress"], env=env, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while end_offsets_total(bootstrap, submitted) == 0:
        assert time.monotonic() < deadline and command.process.poll() is None, command.log()[-3000:]
        time.sleep(0.02)
    # Kill the broker outright (no controlled shutdown), keep it down a moment, start it on the same data.
    assert private_kafka.process is not None
    os.kill(private_kafka.process.pid, signal.SIGKILL)
    private_kafka.process.wait()
    private_kafka.process = None
    time.sleep(3)
    private_kafka.start()
    on_hub_when_killed = str(end_offsets_total(bootstrap, submitted))

    exit_code = command.process.wait(timeout=240)
    output = command.log()
    assert exit_code in (0, 1), output[-3000:]
    unconfirmed = set(re.findall(r"NOT CONFIRMED row \d+ (\S+):", output))
    summary = re.search(r"(\d+) rows: (\d+) published and confirmed, 0 unchanged .*, 0 invalid, (\d+) not confirmed",
                        output)
    assert summary is not None, output[-3000:]
    assert int(summary.group(2)) + int(summary.group(3)) == ROWS
    assert len(unconfirmed) == int(summary.group(3))

    on_hub = Counter(key.decode() for key, _ in read_all(bootstrap, submitted))
    doubled = [key for key, n in on_hub.items() if n > 1]
    assert doubled == [], "%d attestations appear twice on the topic, e.g. %s" % (len(doubled), doubled[:3])
    missing = [n for n in range(ROWS) if "KE-NCK/%d" % (40000 + n) not in on_hub and
               "KE-NCK/%d" % (40000 + n) not in unconfirmed]
    assert missing == [], "%d rows reported confirmed are not on the topic" % len(missing)

    # Whatever was not confirmed goes out on a re-run of the same file; the rest is left alone.
    rerun = run_cli(["issuer", "bulk", "--key", "ke.key", "--issuer-id", "KE-NCK", "--jurisdiction", "KE",
                     "--register", "register.csv", "--no-progress"], env=env, cwd=tmp_path)
    assert "%d rows:" % ROWS in rerun.stdout
    final = Counter(key for key, _ in read_all(bootstrap, submitted))
    assert len(final) == ROWS and max(final.values()) == 1, "killed with %s on the hub" % on_hub_when_killed
