"""The worker counts its internal topics' partitions only once the broker shows them: a topic another
worker is creating at that moment can be described with none for a while."""

from __future__ import annotations

from typing import Any

from credverify.flowstats.adapters import kafka_topics


class AdminSeeingATopicBeingCreated:
    """Describes the topic with no partitions twice (as a cluster does while another worker creates it),
    then with its three."""

    def __init__(self) -> None:
        self.described = 0

    def wait_for_topics(self, names: list[str], timeout_ms: int) -> None:
        return None  # kafka-python's counts a topic without partitions as ready

    def describe_topics(self, names: list[str]) -> list[dict[str, Any]]:
        self.described += 1
        partitions = [] if self.described <= 2 else [{"partition": n, "leader": 1} for n in range(3)]
        return [{"name": name, "partitions": partitions} for name in names]


def test_partitions_are_counted_once_the_topic_shows_them() -> None:
    admin = AdminSeeingATopicBeingCreated()
    assert kafka_topics._partitions_once_visible(admin, ["w-counted-changelog"]) == {"w-counted-changelog": 3}
    assert admin.described == 3
