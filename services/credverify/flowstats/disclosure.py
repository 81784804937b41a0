"""Disclosure control for a window's table of counts: threshold (primary) and secondary suppression.

No I/O. The plan, for one window's final table:

 (1) primary: every non-zero statistic below ``k`` is suppressed;
 (2) secondary, by relations: wherever a total equals the sum of its parts and
     exactly one of them is suppressed, the smallest part that gives enough
     room (else the total) is suppressed too, until no relation has a single
     suppression;
 (3) audit: for every suppressed statistic, the interval an intruder can derive
     from everything published for the window (published values, "suppressed
     means at least 1", and every value published earlier for the window,
     since counts never shrink) is computed by linear programming; where it is
     too narrow, a further statistic linked to it is suppressed, and (3) runs
     again;
 (4) the same audit with integer programming (an intruder knows the counts
     are whole numbers), back to (3) if it finds anything.

An interval is wide enough when an intruder cannot tell the value exactly
(upper minus lower bound at least 1) and, for a statistic suppressed because it
is below ``k``, cannot rule out that it is ``k`` or more (upper bound at
least ``k``): the upper protection level of the minimum-frequency rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import highspy
import numpy as np
from scipy.sparse import csr_matrix

from credverify.flowstats.defaults import DEFAULT_K, MIN_K
from credverify.flowstats.regions import RegionClassification
from credverify.flowstats.tables import INTER, INTRA, RETURNS, MoveCell, StatKey, members

__all__ = ["DEFAULT_K", "MIN_K", "Exposure", "Intruder", "Protection", "audit", "protect"]
METHOD_THRESHOLD = "threshold"
SECONDARY_METHOD = "relations+lp+milp-audit"
UNBOUNDED = math.inf
CELL_BOUND = 1e9  # far above any count of moves in one month


@dataclass(frozen=True)
class Exposure:
    """The interval an intruder can derive for one suppressed statistic."""

    lower: float
    upper: float

    @property
    def width(self) -> float:
        return self.upper - self.lower


@dataclass(frozen=True)
class Protection:
    """The suppression pattern of one table."""

    suppressed: frozenset[StatKey]
    primary: frozenset[StatKey]


def check_k(k: int) -> int:
    """Return ``k``; raise ValueError below MIN_K (a threshold of 1 suppresses nothing)."""
    if k < MIN_K:
        raise ValueError("k: expected at least %d, found %d" % (MIN_K, k))
    return k


def primary_suppressions(table: Mapping[StatKey, int], k: int) -> frozenset[StatKey]:
    """Return the non-zero statistics below ``k``."""
    return frozenset(key for key, value in table.items() if 0 < value < k)


def intruder_cells(listed: Iterable[StatKey]) -> list[MoveCell]:
    """Return the finest cells an intruder must allow for, given which statistics are listed.

    Every listed moves cell may hold non-returning moves; a returns cell that is
    not listed holds none. Only statistics at the finest level are looked at."""
    cells: set[MoveCell] = set()
    for key in listed:
        if key.is_cell:
            cells.add(MoveCell(key.origin, key.destination, key.profession, key.measure == RETURNS))
    return sorted(cells)


class Intruder:
    """The linear system an intruder can set up from one window's releases."""

    def __init__(
        self,
        published: Mapping[StatKey, int],
        suppressed: Iterable[StatKey],
        floors: Mapping[StatKey, int],
        regions: RegionClassification,
    ) -> None:
        suppressed = frozenset(suppressed)
        listed = set(published) | suppressed
        periods = {key.period for key in listed}
        if len(periods) > 1:
            raise ValueError("one window at a time: expected one period, found %s" % sorted(periods))
        period = next(iter(periods)) if periods else ""
        self.cells = intruder_cells(listed)
        index = {cell: i for i, cell in enumerate(self.cells)}
        self.member_index: dict[StatKey, list[int]] = {
            key: sorted(index[cell] for cell in cells)
            for key, cells in members(period, self.cells, regions, margins=True).items()
        }
        rows: list[list[int]] = []
        lower: list[float] = []
        upper: list[float] = []
        for key, value in sorted(published.items()):
            rows.append(self.member_index.get(key, []))
            lower.append(value)
            upper.append(value)
        for key in sorted(suppressed):
            rows.append(self.member_index.get(key, []))
            lower.append(max(1, floors.get(key, 0)))
            upper.append(np.inf)
        for key, floor in sorted(floors.items()):
            if key not in published and key not in suppressed and floor > 0:
                rows.append(self.member_index.get(key, []))
                lower.append(floor)
                upper.append(np.inf)
        self.matrix = _incidence(rows, len(self.cells))
        self.lower = np.array(lower, dtype=float)
        self.upper = np.array(upper, dtype=float)
        self._solver: highspy.Highs | None = None

    def exposure(self, key: StatKey, *, integer: bool) -> Exposure:
        """Return the smallest and largest value of ``key`` consistent with what was published."""
        objective = np.zeros(len(self.cells))
        objective[self.member_index.get(key, [])] = 1.0
        high = self._optimum(-objective, integer=integer)
        if high is None:
            # Unbounded above: wide enough whatever the lower bound, which is then not worth a solve.
            return Exposure(0.0, UNBOUNDED)
        low = self._optimum(objective, integer=integer)
        return Exposure(low if low is not None else 0.0, -high)

    def _model(self) -> highspy.Highs:
        # One model per intruder; each question only changes the objective, so
        # the solver starts from the previous answer's basis.
        if self._solver is None:
            solver = highspy.Highs()
            solver.setOptionValue("output_flag", False)
            lp = highspy.HighsLp()
            lp.num_col_ = len(self.cells)
            lp.num_row_ = self.matrix.shape[0]
            lp.col_cost_ = np.zeros(len(self.cells))
            lp.col_lower_ = np.zeros(len(self.cells))
            lp.col_upper_ = np.full(len(self.cells), CELL_BOUND)
            lp.row_lower_ = self.lower
            lp.row_upper_ = np.where(np.isinf(self.upper), highspy.kHighsInf, self.upper)
            lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
            lp.a_matrix_.start_ = self.matrix.indptr
            lp.a_matrix_.index_ = self.matrix.indices
            lp.a_matrix_.value_ = self.matrix.data
            solver.passModel(lp)
            self._solver = solver
        return self._solver

    def _optimum(self, objective: np.ndarray, *, integer: bool) -> float | None:
        """Return the minimum of ``objective``, None when it has none (the statistic is unbounded above).

        With ``integer``, the minimum over whole numbers: the linear optimum when the solver's
        vertex is integral (then no integer point does better), integer programming otherwise."""
        n = len(self.cells)
        if n == 0:
            return 0.0
        # Cells are bounded so that the solver never has to tell "unbounded" from
        # "infeasible"; an optimum this far beyond any real count means unbounded.
        solver = self._model()
        columns = np.arange(n, dtype=np.int32)
        solver.changeColsCost(n, columns, objective)
        value = self._solve(solver)
        solution = np.asarray(solver.getSolution().col_value)
        if integer and not np.allclose(solution, np.round(solution), atol=1e-6):
            solver.changeColsIntegrality(n, columns, np.full(n, highspy.HighsVarType.kInteger))
            try:
                value = self._solve(solver)
            finally:
                solver.changeColsIntegrality(n, columns, np.full(n, highspy.HighsVarType.kContinuous))
        return None if value < -CELL_BOUND / 2 else value

    @staticmethod
    def _solve(solver: highspy.Highs) -> float:
        solver.run()
        status = solver.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(
                "disclosure audit: expected a solvable system, the solver says %s" % solver.modelStatusToString(status)
            )
        return float(solver.getInfo().objective_function_value)


def _incidence(rows: list[list[int]], columns: int) -> csr_matrix:
    data: list[float] = []
    indices: list[int] = []
    pointers = [0]
    for row in rows:
        indices.extend(row)
        data.extend([1.0] * len(row))
        pointers.append(len(indices))
    return csr_matrix((data, indices, pointers), shape=(len(rows), columns))


def wide_enough(key: StatKey, table: Mapping[StatKey, int], primary: frozenset[StatKey], k: int, e: Exposure) -> bool:
    """Return True when the exposure of suppressed ``key`` is wide enough."""
    if e.width < 1 - 1e-6:
        return False
    return key not in primary or e.upper >= k - 1e-6


def relations(
    table: Mapping[StatKey, int], regions: RegionClassification
) -> list[tuple[StatKey, tuple[StatKey, ...]]]:
    """Return every (total, parts) of ``table`` where the parts' finest cells partition the total's."""
    period = next(iter(table)).period if table else ""
    member_sets = members(period, intruder_cells(table), regions, margins=True)
    groups: dict[tuple[str, str, str, str], list[StatKey]] = {}
    for key in table:
        groups.setdefault((key.measure, "origin", key.destination, key.profession), []).append(key)
        groups.setdefault((key.measure, "destination", key.origin, key.profession), []).append(key)
        groups.setdefault((key.measure, "profession", key.origin, key.destination), []).append(key)
    found: list[tuple[StatKey, tuple[StatKey, ...]]] = []
    for _, keys in sorted(groups.items()):
        keys.sort()
        for parent in keys:
            parent_cells = member_sets.get(parent, frozenset())
            children = [c for c in keys if c != parent and member_sets.get(c, frozenset()) <= parent_cells]
            for parts in _partitions(parent_cells, children, member_sets):
                found.append((parent, parts))
    return found


def _partitions(
    parent_cells: frozenset[MoveCell], children: list[StatKey], member_sets: Mapping[StatKey, frozenset[MoveCell]]
) -> list[tuple[StatKey, ...]]:
    """Group ``children`` into sets whose cells are disjoint and cover ``parent_cells`` exactly."""
    # Children along one axis fall into at most a few families (countries, or
    # the two regional scopes); each family that tiles the parent is a relation.
    families: dict[str, list[StatKey]] = {}
    for child in children:
        name = "scope" if child.origin in (INTRA, INTER) else "category"
        families.setdefault(name, []).append(child)
    groups: list[tuple[StatKey, ...]] = []
    for family in families.values():
        covered: set[MoveCell] = set()
        disjoint = True
        for child in family:
            cells = member_sets[child]
            if covered & cells:
                disjoint = False
                break
            covered |= cells
        if disjoint and covered == parent_cells:
            groups.append(tuple(sorted(family)))
    return groups


def protect(
    table: Mapping[StatKey, int],
    *,
    k: int,
    regions: RegionClassification,
    floors: Mapping[StatKey, int] | None = None,
) -> Protection:
    """Return the suppression pattern for ``table`` (one window): primary below ``k``, then secondary
    until every suppressed statistic passes the audit. ``floors`` are values published earlier for
    the window (lower bounds an intruder knows)."""
    check_k(k)
    floors = dict(floors or {})
    primary = primary_suppressions(table, k)
    suppressed = set(primary)
    if not suppressed:
        return Protection(frozenset(), primary)
    links = relations(table, regions)
    # Hiding a sibling (a disjoint part of the same total) is what widens an
    # interval; a total is hidden only when no sibling is left.
    siblings: dict[StatKey, set[StatKey]] = {}
    totals: dict[StatKey, set[StatKey]] = {}
    links_of: dict[StatKey, list[int]] = {}
    for index, (parent, parts) in enumerate(links):
        for part in parts:
            siblings.setdefault(part, set()).update(p for p in parts if p != part)
            totals.setdefault(part, set()).add(parent)
        siblings.setdefault(parent, set()).update(parts)
        for key in (parent, *parts):
            links_of.setdefault(key, []).append(index)

    def hidden_in(index: int) -> int:
        parent, parts = links[index]
        return sum(1 for key in (parent, *parts) if key in suppressed)

    def need(key: StatKey) -> int:
        # Room a partner must give so that a primary cell's upper bound reaches k.
        return max(1, k - table[key] + 1) if key in primary else 1

    def partner(key: StatKey, candidates: Iterable[StatKey]) -> StatKey | None:
        """The candidate that protects ``key`` at least cost: one that gives enough room, then one
        that closes relations already holding a single suppression rather than opening new ones
        (each opened relation needs a partner of its own), then the smallest value."""
        open_ = [c for c in candidates if c not in suppressed and c != key]
        if not open_:
            return None

        def cost(c: StatKey) -> tuple[bool, int, int, StatKey]:
            counts = [hidden_in(i) for i in links_of.get(c, [])]
            return (table[c] < need(key), counts.count(0) - counts.count(1), table[c], c)

        return min(open_, key=cost)

    def close_relations() -> None:
        # (2) no relation may hold a single suppression.
        changed = True
        while changed:
            changed = False
            for parent, parts in links:
                hidden = [key for key in (parent, *parts) if key in suppressed]
                if len(hidden) != 1:
                    continue
                lone = hidden[0]
                choice = partner(lone, [p for p in parts if p != lone]) or partner(lone, [parent])
                if choice is not None:
                    suppressed.add(choice)
                    changed = True

    close_relations()
    # (3) and (4): audit, widen, repeat; the integer audit confirms what the linear one passed.
    # Hiding more only turns published equalities into inequalities, so an interval
    # that was wide enough stays so: only statistics not yet passed are audited again.
    passed: dict[bool, set[StatKey]] = {False: set(), True: set()}
    integer = False
    while True:
        intruder = Intruder({key: v for key, v in table.items() if key not in suppressed}, suppressed, floors,
                            regions)
        failing = []
        # Statistics summing the same cells (a total with a single part) have the same interval.
        known: dict[tuple[int, ...], Exposure] = {}
        for key in sorted(suppressed - passed[integer]):
            cells = tuple(intruder.member_index.get(key, []))
            if cells not in known:
                known[cells] = intruder.exposure(key, integer=integer)
            if wide_enough(key, table, primary, k, known[cells]):
                passed[integer].add(key)
            else:
                failing.append(key)
        if not failing:
            if integer:
                break
            integer = True
            continue
        integer = False
        before = len(suppressed)
        added: set[StatKey] = set()
        for key in failing:
            if added & (siblings.get(key, set()) | totals.get(key, set())):
                continue  # this round already hid something linked to it: audit again first
            choice = partner(key, siblings.get(key, ())) or partner(key, totals.get(key, ()))
            if choice is None:
                # Nothing linked is left to hide: hide the smallest statistic that shares a cell with it.
                mine = set(intruder.member_index.get(key, []))
                sharing = [
                    other for other, cells in intruder.member_index.items()
                    if other in table and other not in suppressed and mine & set(cells)
                ]
                choice = min(sharing, key=lambda other: (table[other], other)) if sharing else None
            if choice is not None:
                suppressed.add(choice)
                added.add(choice)
        if len(suppressed) == before:
            raise RuntimeError(
                "disclosure control: expected a suppression pattern that protects %s, found none" % failing[0]
            )
        close_relations()
    return Protection(frozenset(suppressed), primary)


def audit(
    published: Mapping[StatKey, int],
    suppressed: Iterable[StatKey],
    floors: Mapping[StatKey, int],
    regions: RegionClassification,
) -> dict[StatKey, Exposure]:
    """Return the integer interval an intruder can derive for every suppressed statistic."""
    suppressed = sorted(set(suppressed))
    intruder = Intruder(published, suppressed, floors, regions)
    return {key: intruder.exposure(key, integer=True) for key in suppressed}
