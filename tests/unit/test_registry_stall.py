"""One partition left behind while ingest commits on the others is a stall (issue 14: a registry on the
cluster stopped reading one partition and went on answering SERVING)."""

from __future__ import annotations

from credverify.registry.stall import StallWatch

ATTESTATIONS = "credverify.attestations.v1"


def offsets(stuck: int, moving: int, *, end: int = 8336) -> dict[tuple[str, int], tuple[int, int]]:
    return {(ATTESTATIONS, 0): (stuck, end), (ATTESTATIONS, 1): (moving, end + moving)}


def test_a_partition_that_does_not_move_while_others_do_is_stalled_and_named() -> None:
    watch = StallWatch(stall_after_s=60)
    for second in range(0, 60, 5):
        assert not watch.observe(lag=9000, progress=second, now=second, partitions=offsets(2000, second * 10))
    assert watch.observe(lag=9000, progress=60, now=60, partitions=offsets(2000, 600))
    assert watch.describe() == (
        "ingest stalled on %s[0]: committed up to offset 2000 of 8336, no progress there for 60 s" % ATTESTATIONS)
    assert watch.stalled_for_s == 60


def test_the_stalled_partition_moving_again_clears_the_stall() -> None:
    watch = StallWatch(stall_after_s=60)
    watch.observe(lag=9000, progress=0, now=0, partitions=offsets(2000, 0))
    assert watch.observe(lag=9000, progress=1, now=70, partitions=offsets(2000, 700))
    assert not watch.observe(lag=8000, progress=2, now=75, partitions=offsets(4000, 750))


def test_a_partition_read_to_its_end_is_no_stall_however_long_it_waits() -> None:
    watch = StallWatch(stall_after_s=60)
    for second in range(0, 600, 5):
        assert not watch.observe(lag=1, progress=second, now=second, partitions=offsets(8336, second * 10))


def test_no_partition_moving_during_a_long_rejudging_of_a_trust_change_is_no_stall() -> None:
    # Re-judging an issuer with millions of attestations is one transaction: no offset moves for minutes,
    # but the progress counter grows with every page judged.
    watch = StallWatch(stall_after_s=60)
    watch.observe(lag=100, progress=0, now=0, partitions=offsets(1000, 0))
    watch.observe(lag=100, progress=1, now=5, partitions=offsets(2000, 50))
    for second in range(10, 300, 5):
        assert not watch.observe(lag=100, progress=second, now=second, partitions=offsets(2000, 50))
