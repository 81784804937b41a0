"""Settings of the flow-statistics worker, read once by its composition root (the CLI)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from credverify.core.settings import KafkaSettings
from credverify.flowstats.releases import ReleasePolicy
from credverify.flowstats.windows import MONTH

# Source, internal and changelog topics must agree (Faust raises PartitionsMismatch otherwise);
# it is also the number of moves partitions whose clocks a window waits for.
PARTITIONS = 3


@dataclass(frozen=True)
class FlowSettings:
    kafka: KafkaSettings
    data_dir: Path
    policy: ReleasePolicy
    # Of the internal topics the worker creates (changelogs, window parts): they hold its state. None
    # until the worker asks the cluster (see flowstats.adapters.kafka_topics.replication_factor_for).
    replication_factor: int | None = None


def app_id(settings: FlowSettings) -> str:
    """Return the Faust app id: the consumer group and the prefix of its internal topics."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "-", settings.kafka.topics.prefix)
    # A quarterly or yearly worker can run beside a monthly one: its own group, state and internal topics
    # (docs/flowstats.md says why their two publications should not reach the same audience).
    suffix = "" if settings.policy.window == MONTH else "-" + settings.policy.window
    # Coarse groups count the same moves into other cells: their own state, too.
    suffix += "" if settings.policy.professions == "fine" else "-" + settings.policy.professions
    return prefix + "credverify-flowstats" + suffix


def parts_topic_name(settings: FlowSettings) -> str:
    return app_id(settings) + "-window-parts"
