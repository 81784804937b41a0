"""Flow statistics: which cell a move counts in, and what may be published about a cell. No I/O."""

from __future__ import annotations

from dataclasses import dataclass

from credverify.core.codes import profession_group
from credverify.v1 import moves_pb2

# Cells below this many moves are suppressed. Threshold rules of 3 to 10 are
# common in official statistics; 5 is the default of many offices for
# frequency tables of persons and is used here until a publisher sets its own.
DEFAULT_K = 5
METHOD_THRESHOLD = "threshold"


@dataclass(frozen=True)
class Cell:
    period: str  # "YYYY-MM"
    origin: str
    destination: str
    profession_group: str

    @property
    def key(self) -> str:
        return "|".join((self.period, self.origin, self.destination, self.profession_group))


def cell_of(move: moves_pb2.VerifiedMove) -> Cell:
    day = move.registered_on
    return Cell(
        period="%04d-%02d" % (day.year, day.month),
        origin=move.origin_country,
        destination=move.destination_country,
        profession_group=profession_group(move.profession_isco),
    )


def statistic(cell: Cell, count: int, *, k: int, final: bool = False) -> moves_pb2.FlowStatistic:
    """Return the publishable statistic for a cell: its count, or nothing but a flag below ``k``."""
    suppressed = count < k
    return moves_pb2.FlowStatistic(
        period=cell.period,
        origin_country=cell.origin,
        destination_country=cell.destination,
        profession_group=cell.profession_group,
        value=0 if suppressed else count,
        suppressed=suppressed,
        method=METHOD_THRESHOLD,
        parameters={"k": str(k)},
        final=final,
    )
