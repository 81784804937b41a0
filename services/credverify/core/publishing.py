"""What a publisher is asked to send and what it reports back: the port every service publishes through.

Pure data: the Kafka adapter (core/adapters/kafka.py) implements ``Publisher``; tests use fakes of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutgoingRecord:
    topic: str
    key: bytes | None
    value: bytes
    payload_type: str = ""


@dataclass(frozen=True)
class Delivery:
    """What became of one record: confirmed by the hub at ``partition``/``offset``, or ``error``."""

    record: OutgoingRecord
    partition: int | None
    offset: int | None
    error: str | None

    @property
    def confirmed(self) -> bool:
        return self.error is None


class Publisher(Protocol):
    def publish(self, records: Iterable[OutgoingRecord]) -> list[Delivery]:
        """Send ``records`` and return one Delivery each, in order, once each is confirmed or has failed."""
        ...
