"""Differential privacy per person, not per move: each person's moves in a window are bounded before they
are counted, the noise is scaled for that bound, and the subject token itself is never kept."""

from __future__ import annotations

import datetime as dt

import pytest

from credverify.core.errors import ConfigurationError
from credverify.core.timefmt import to_date
from credverify.flowstats.counting import Outcome, PartitionCounter
from credverify.flowstats.privacy import PrivacyPolicy, noisy_release
from credverify.flowstats.regions import load_m49
from credverify.flowstats.tables import MoveCell, facts_of, subject_digest
from credverify.v1 import moves_pb2

GRACE = dt.timedelta(days=7)


def move(n: int, token: str, day: dt.date = dt.date(2026, 10, 5)) -> moves_pb2.VerifiedMove:
    return moves_pb2.VerifiedMove(move_id="m%d" % n, origin_country="KE", destination_country="GB",
                                  profession_isco="2221", registered_on=to_date(day), subject_token=token,
                                  country_of_training="KE")


def test_a_person_counts_with_at_most_the_bound_of_moves_per_window_even_after_a_restart() -> None:
    counter = PartitionCounter(partition=0, grace=GRACE, max_per_subject=1)
    outcomes = [counter.count(facts_of(m), offset=n) for n, m in enumerate([
        move(0, "alice"), move(1, "alice"), move(2, "bob"), move(3, "alice", dt.date(2026, 11, 2))])]
    assert outcomes == [Outcome.COUNTED, Outcome.CAPPED, Outcome.COUNTED, Outcome.COUNTED]
    assert counter.cells["2026-10"][MoveCell("KE", "GB", "nurses", False, "KE")] == 2  # Alice once, Bob once
    batch = counter.take_pending()
    assert batch is not None
    assert all(b"alice" not in m.subject and m.subject for m in batch.moves), "only a digest is kept"
    restored = PartitionCounter(partition=0, grace=GRACE, max_per_subject=1)
    restored.restore_batch(moves_pb2.CountedBatch.FromString(batch.SerializeToString()))
    assert restored.cells == counter.cells
    assert restored.count(facts_of(move(4, "alice")), offset=4) is Outcome.CAPPED
    assert restored.count(facts_of(move(1, "alice")), offset=5) is Outcome.DUPLICATE


def test_without_differential_privacy_every_move_counts_and_no_digest_is_kept() -> None:
    counter = PartitionCounter(partition=0, grace=GRACE)
    assert [counter.count(facts_of(move(n, "alice")), offset=n) for n in range(3)] == [Outcome.COUNTED] * 3
    batch = counter.take_pending()
    assert batch is not None and not any(m.subject for m in batch.moves)


def test_the_digest_differs_from_window_to_window_and_is_empty_without_a_token() -> None:
    assert subject_digest("2026-10", "alice") != subject_digest("2026-11", "alice")
    assert subject_digest("2026-10", "alice") == facts_of(move(0, "alice")).subject
    assert subject_digest("2026-10", "") == b"" and facts_of(move(0, "")).subject == b""


@pytest.mark.parametrize(("per_partition", "bound"), [(1, 3), (2, 6)])
def test_the_noise_is_scaled_for_the_most_one_person_can_add(per_partition: int, bound: int) -> None:
    policy = PrivacyPolicy(epsilon=1.0, window_budget=4.0, destinations=("GB",),
                           max_moves_per_partition=per_partition, partitions=3)
    assert policy.contribution_bound == bound
    release = noisy_release("2026-10", {MoveCell("KE", "GB", "nurses", False): 40}, regions=load_m49(),
                            policy=policy, final=True)
    assert release.scale == pytest.approx(release.levels * bound / 1.0)
    assert release.epsilon == pytest.approx(1.0), "opendp's map at that sensitivity spends exactly epsilon"


def test_a_bound_below_one_move_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="dp moves per person: expected at least 1"):
        PrivacyPolicy(epsilon=1.0, window_budget=1.0, destinations=("GB",), max_moves_per_partition=0)


def test_a_final_windows_subject_digests_are_dropped_and_its_counts_stay() -> None:
    from credverify.flowstats.counting import cells_of_part, without_subjects

    counter = PartitionCounter(partition=0, grace=GRACE, max_per_subject=1)
    for n, m in enumerate([move(0, "alice"), move(1, "alice"), move(2, "bob", dt.date(2026, 11, 2))]):
        counter.count(facts_of(m), offset=n)
    batch = counter.take_pending()
    assert batch is not None
    stripped = without_subjects(batch, "2026-10")
    assert stripped is not None
    assert [bool(m.subject) for m in stripped.moves] == [False, False, True], "November is still open"
    assert [m.capped for m in stripped.moves] == [False, True, False], "what was capped stays capped"
    assert without_subjects(stripped, "2026-10") is None, "nothing left to drop"
    restored = PartitionCounter(partition=0, grace=GRACE, max_per_subject=1)
    restored.restore_batch(stripped)
    assert cells_of_part([restored.part("2026-10", final=True)]) == cells_of_part([counter.part("2026-10", final=True)])
