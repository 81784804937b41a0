from __future__ import annotations

from credverify.core.timefmt import to_date
from credverify.flowstats.domain import cell_of, statistic
from credverify.v1 import moves_pb2
from tests.factories import TODAY


def test_a_move_counts_in_its_month_countries_and_profession_group() -> None:
    move = moves_pb2.VerifiedMove(origin_country="KE", destination_country="GB", profession_isco="3221",
                                  registered_on=to_date(TODAY))
    assert cell_of(move).key == "2026-06|KE|GB|nurses"


def test_cells_below_k_publish_no_count() -> None:
    cell = cell_of(moves_pb2.VerifiedMove(origin_country="LK", destination_country="AU",
                                          profession_isco="2212", registered_on=to_date(TODAY)))
    low = statistic(cell, 4, k=5)
    assert low.suppressed and low.value == 0 and low.parameters["k"] == "5"
    high = statistic(cell, 5, k=5)
    assert not high.suppressed and high.value == 5 and high.method == "threshold"
