"""What Faust alone costs per record: a worker that reads the moves topic the way the flows worker does
(one agent, acknowledged by hand, the same broker settings) and does nothing
with a record but count it. Run by scripts/bench_flowstats.py as a process of its own:

    python scripts/faust_ceiling.py TOPIC EXPECTED DATA_DIR APP_ID

It prints ``first <monotonic time>`` when it reads its first record and ``done <time> <count>`` once it
has read EXPECTED records; the benchmark then stops it. The broker and its security come from the environment, as
for every credverify process."""

from __future__ import annotations

import sys
import time
from typing import Any

import faust

from credverify.core.adapters.kafka import faust_broker_config
from credverify.core.settings import KafkaSettings


def main(topic: str, expected: int, data_dir: str, app_id: str) -> None:
    kafka = KafkaSettings.from_env()
    app = faust.App(app_id, **faust_broker_config(kafka), store="memory://",
                    datadir=data_dir, topic_partitions=3, web_enabled=False, consumer_auto_offset_reset="earliest")
    moves = app.topic(topic, key_serializer="raw", value_serializer="raw", partitions=3)
    counted = {"n": 0}

    @app.agent(moves)
    async def count(stream: Any) -> None:
        async for event in stream.noack().events():
            if counted["n"] == 0:
                print("first %.6f" % time.monotonic(), flush=True)
            counted["n"] += 1
            await stream.ack(event)
            if counted["n"] == expected:
                print("done %.6f %d" % (time.monotonic(), counted["n"]), flush=True)

    faust.Worker(app, loglevel="warning").execute_from_commandline()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4])
