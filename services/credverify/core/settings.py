"""Configuration from the environment, read once by each composition root."""

from __future__ import annotations

import os
from dataclasses import dataclass

from credverify.core.topics import Topics

BOOTSTRAP_ENV = "KAFKA_BOOTSTRAP_SERVERS"
TOPIC_PREFIX_ENV = "CREDVERIFY_TOPIC_PREFIX"
DEFAULT_BOOTSTRAP = "127.0.0.1:9092"


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap_servers: str
    topics: Topics

    @classmethod
    def from_env(cls, bootstrap: str | None = None) -> KafkaSettings:
        return cls(
            bootstrap_servers=bootstrap or os.environ.get(BOOTSTRAP_ENV, DEFAULT_BOOTSTRAP),
            topics=Topics(prefix=os.environ.get(TOPIC_PREFIX_ENV, "")),
        )
