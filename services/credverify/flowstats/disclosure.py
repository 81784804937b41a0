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

import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import highspy
import numpy as np
from scipy.sparse import csr_matrix

from credverify.flowstats.defaults import DEFAULT_K, MIN_K
from credverify.flowstats.regions import RegionClassification
from credverify.flowstats.tables import INTER, INTRA, RETURNS, SAFEGUARDS, UNKNOWN, MoveCell, StatKey, members

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

    Flows are published by issuing country and by country of training, never crossed, so a finest
    cell (origin, destination, profession, returning, training) is any pairing, within one destination
    and profession, of a listed origin with a listed country of training. A move returns exactly when
    its country of training is the destination (when it gave one), and returning cells need a listed
    returns cell. Only statistics at the finest level are looked at."""
    origins: dict[tuple[str, str], set[str]] = {}
    returning: set[tuple[str, str, str]] = set()
    trainings: dict[tuple[str, str], set[str]] = {}
    for key in listed:
        if not key.is_cell:
            continue
        where = (key.destination, key.profession)
        if key.by_training:
            trainings.setdefault(where, set()).add(key.training)
        elif key.measure == RETURNS:
            returning.add((key.origin, *where))
        else:
            origins.setdefault(where, set()).add(key.origin)
    cells: set[MoveCell] = set()
    for (destination, profession), found in origins.items():
        # A table without flows by country of training (an earlier release) says nothing about it.
        for origin, training in itertools.product(found, trainings.get((destination, profession), {UNKNOWN})):
            can_return = (origin, destination, profession) in returning
            for returns in _returning_options(training, destination, can_return=can_return):
                cells.add(MoveCell(origin, destination, profession, returns, training))
    return sorted(cells)


def _returning_options(training: str, destination: str, *, can_return: bool) -> tuple[bool, ...]:
    if training != UNKNOWN:
        returns = training == destination
        return (returns,) if can_return or not returns else ()
    return (False, True) if can_return else (False,)


def _one_period(listed: Iterable[StatKey]) -> str:
    """Return the period of the statistics (empty when there are none). Raises ValueError for several."""
    periods = {key.period for key in listed}
    if len(periods) > 1:
        raise ValueError("one window at a time: expected one period, found %s" % sorted(periods))
    return next(iter(periods)) if periods else ""


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
        self.cells = intruder_cells(listed)
        index = {cell: i for i, cell in enumerate(self.cells)}
        self.member_index: dict[StatKey, list[int]] = {
            key: sorted(index[cell] for cell in cells)
            for key, cells in members(_one_period(listed), self.cells, regions, margins=True).items()
        }
        rows, lower, upper = self._constraints(published, suppressed, floors)
        self.matrix = _incidence(rows, len(self.cells))
        self.lower = np.array(lower, dtype=float)
        self.upper = np.array(upper, dtype=float)
        self._solver: highspy.Highs | None = None

    def _constraints(
        self, published: Mapping[StatKey, int], suppressed: frozenset[StatKey], floors: Mapping[StatKey, int]
    ) -> tuple[list[list[int]], list[float], list[float]]:
        """Return the rows (cell indices), lower and upper bounds of what the intruder knows: published
        values exactly, a suppressed statistic at least 1 (or its floor), every floor as a lower bound."""
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
        return rows, lower, upper

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
    groups: dict[tuple[str, ...], list[StatKey]] = {}
    for key in table:
        groups.setdefault((key.measure, "origin", key.training, key.destination, key.profession), []).append(key)
        groups.setdefault((key.measure, "training", key.origin, key.destination, key.profession), []).append(key)
        groups.setdefault((key.measure, "destination", key.origin, key.training, key.profession), []).append(key)
        groups.setdefault((key.measure, "profession", key.origin, key.training, key.destination), []).append(key)
    found: list[tuple[StatKey, tuple[StatKey, ...]]] = []
    for _, keys in sorted(groups.items()):
        keys.sort()
        for parent in keys:
            parent_cells = member_sets.get(parent, frozenset())
            children = [c for c in keys if c != parent and member_sets.get(c, frozenset()) <= parent_cells]
            for parts in _partitions(parent_cells, children, member_sets):
                found.append((parent, parts))
    return found


def _family(key: StatKey) -> str:
    if key.origin in (INTRA, INTER):
        return "scope"
    if SAFEGUARDS in (key.origin, key.training):
        return "safeguards"
    return "category"


def _partitions(
    parent_cells: frozenset[MoveCell], children: list[StatKey], member_sets: Mapping[StatKey, frozenset[MoveCell]]
) -> list[tuple[StatKey, ...]]:
    """Group ``children`` into sets whose cells are disjoint and cover ``parent_cells`` exactly."""
    # Children along one axis fall into at most a few families (countries, the
    # two regional scopes, the safeguards-list series); each family that tiles
    # the parent is a relation (the list's series tiles no total on its own, but
    # the listed countries tile it).
    families: dict[str, list[StatKey]] = {}
    for child in children:
        families.setdefault(_family(child), []).append(child)
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
    the window (lower bounds an intruder knows). Raises RuntimeError when no pattern protects them."""
    check_k(k)
    # (1) primary
    primary = primary_suppressions(table, k)
    if not primary:
        return Protection(frozenset(), primary)
    pattern = _Pattern(table, k, primary, relations(table, regions))
    # (2) secondary, by relations
    pattern.close_relations()
    # (3) linear audit and (4) integer audit, widening until both pass
    _audit_until_protected(pattern, dict(floors or {}), regions)
    return Protection(frozenset(pattern.suppressed), primary)


class _Pattern:
    """A suppression pattern being built for one table, and the relations that link its statistics."""

    def __init__(self, table: Mapping[StatKey, int], k: int, primary: frozenset[StatKey],
                 links: list[tuple[StatKey, tuple[StatKey, ...]]]) -> None:
        self.table = table
        self.k = k
        self.primary = primary
        self.suppressed = set(primary)
        self.links = links
        # Hiding a sibling (a disjoint part of the same total) is what widens an
        # interval; a total is hidden only when no sibling is left.
        self.siblings: dict[StatKey, set[StatKey]] = {}
        self.totals: dict[StatKey, set[StatKey]] = {}
        self.links_of: dict[StatKey, list[int]] = {}
        for index, (parent, parts) in enumerate(links):
            for part in parts:
                self.siblings.setdefault(part, set()).update(p for p in parts if p != part)
                self.totals.setdefault(part, set()).add(parent)
            self.siblings.setdefault(parent, set()).update(parts)
            for key in (parent, *parts):
                self.links_of.setdefault(key, []).append(index)

    def hidden_in(self, index: int) -> int:
        parent, parts = self.links[index]
        return sum(1 for key in (parent, *parts) if key in self.suppressed)

    def need(self, key: StatKey) -> int:
        """Return the room a partner must give so that a primary cell's upper bound reaches k."""
        return max(1, self.k - self.table[key] + 1) if key in self.primary else 1

    def partner(self, key: StatKey, candidates: Iterable[StatKey]) -> StatKey | None:
        """Return the candidate that protects ``key`` at least cost: one that gives enough room, then one
        that closes relations already holding a single suppression rather than opening new ones
        (each opened relation needs a partner of its own), then the smallest value."""
        open_ = [c for c in candidates if c not in self.suppressed and c != key]
        if not open_:
            return None

        def cost(c: StatKey) -> tuple[bool, int, int, StatKey]:
            counts = [self.hidden_in(i) for i in self.links_of.get(c, [])]
            return (self.table[c] < self.need(key), counts.count(0) - counts.count(1), self.table[c], c)

        return min(open_, key=cost)

    def close_relations(self) -> None:
        """(2) Suppress partners until no relation holds a single suppression."""
        changed = True
        while changed:
            changed = False
            for parent, parts in self.links:
                hidden = [key for key in (parent, *parts) if key in self.suppressed]
                if len(hidden) != 1:
                    continue
                lone = hidden[0]
                choice = self.partner(lone, [p for p in parts if p != lone]) or self.partner(lone, [parent])
                if choice is not None:
                    self.suppressed.add(choice)
                    changed = True

    def intruder(self, floors: Mapping[StatKey, int], regions: RegionClassification) -> Intruder:
        """Return the system an intruder sets up from what the pattern leaves published."""
        published = {key: v for key, v in self.table.items() if key not in self.suppressed}
        return Intruder(published, self.suppressed, floors, regions)

    def widen(self, failing: list[StatKey], intruder: Intruder) -> None:
        """Suppress a further statistic linked to each of ``failing`` (3). Raises RuntimeError when
        nothing is left to suppress."""
        before = len(self.suppressed)
        added: set[StatKey] = set()
        for key in failing:
            if added & (self.siblings.get(key, set()) | self.totals.get(key, set())):
                continue  # this round already hid something linked to it: audit again first
            choice = self.partner(key, self.siblings.get(key, ())) or self.partner(key, self.totals.get(key, ()))
            if choice is None:
                # Nothing linked is left to hide: hide the smallest statistic that shares a cell with it.
                choice = self._smallest_sharing_a_cell(key, intruder)
            if choice is not None:
                self.suppressed.add(choice)
                added.add(choice)
        if len(self.suppressed) == before:
            raise RuntimeError(
                "disclosure control: expected a suppression pattern that protects %s, found none" % failing[0]
            )

    def _smallest_sharing_a_cell(self, key: StatKey, intruder: Intruder) -> StatKey | None:
        mine = set(intruder.member_index.get(key, []))
        sharing = [
            other for other, cells in intruder.member_index.items()
            if other in self.table and other not in self.suppressed and mine & set(cells)
        ]
        return min(sharing, key=lambda other: (self.table[other], other)) if sharing else None


def _audit_until_protected(pattern: _Pattern, floors: Mapping[StatKey, int], regions: RegionClassification) -> None:
    """(3) and (4): audit, widen, repeat; the integer audit confirms what the linear one passed, and
    anything it finds sends the pattern back to (3). Raises RuntimeError (see ``_Pattern.widen``)."""
    # Hiding more only turns published equalities into inequalities, so an interval
    # that was wide enough stays so: only statistics not yet passed are audited again.
    passed: dict[bool, set[StatKey]] = {False: set(), True: set()}
    integer = False
    while True:
        intruder = pattern.intruder(floors, regions)
        failing = _audit_round(pattern, intruder, passed[integer], integer=integer)
        if not failing:
            if integer:
                return
            integer = True
            continue
        integer = False
        pattern.widen(failing, intruder)
        pattern.close_relations()


def _audit_round(pattern: _Pattern, intruder: Intruder, passed: set[StatKey], *, integer: bool) -> list[StatKey]:
    """Return the suppressed statistics not yet in ``passed`` whose interval is too narrow; add the
    others to ``passed``."""
    failing = []
    # Statistics summing the same cells (a total with a single part) have the same interval.
    known: dict[tuple[int, ...], Exposure] = {}
    for key in sorted(pattern.suppressed - passed):
        cells = tuple(intruder.member_index.get(key, []))
        if cells not in known:
            known[cells] = intruder.exposure(key, integer=integer)
        if wide_enough(key, pattern.table, pattern.primary, pattern.k, known[cells]):
            passed.add(key)
        else:
            failing.append(key)
    return failing


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
