"""Mutation testing of the modules where a silent change costs trust or privacy (`make mutation`).

A test suite that passes proves little if it also passes when the code is wrong. mutmut changes one
thing at a time in a module (``<`` to ``<=``, ``k`` to ``k + 1``, a condition to its opposite) and
runs the tests that exercise it: a mutant the tests fail on is killed, one they pass is a survivor,
a change nobody would notice. Each module is run on its own, against the fast unit tests named
below, and the table at the end gives the share of mutants killed per module.

mutmut names a mutant after the module it derives from the file's path, so each run works in a
scratch copy, ``.mutation/<module>/``, where the package sits at ``src/credverify`` (a layout mutmut
knows) rather than ``services/credverify``; the working tree is only read. Run it with the Python of
``.venv-mutation`` (the Makefile builds it): the mutmut release that accepts the click faust needs is
not the one the main venv would pick.

Usage: python scripts/mutation.py [--module disclosure ...] [--max-children 2] [--summary FILE] [--no-run]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / ".mutation"
PACKAGE = ROOT / "services" / "credverify"
# What the selected tests read besides the package and tests/: conftest imports deploy/kafka's
# localkafka, the conformance test reads docs/spec.md and scripts/make_vectors.py, the register test
# reads examples/.
ALSO_COPY = ("docs", "scripts", "deploy/kafka", "examples")
# Two cores shared with other people: two children at most by default.
DEFAULT_CHILDREN = 2
SCRATCH_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc")


@dataclass(frozen=True)
class Target:
    """One module to mutate and the unit tests that exercise it."""

    source: str  # inside services/credverify
    tests: tuple[str, ...]  # inside tests/unit


TARGETS: dict[str, Target] = {
    "attestation": Target("core/attestation.py", (
        "test_verify_attestation.py", "test_conformance_vectors.py", "test_key_rotation.py",
        "test_issuer_domain.py", "test_boundaries_attestation.py",
    )),
    "envelope": Target("core/envelope.py", (
        "test_envelope.py", "test_conformance_vectors.py", "test_keys.py", "test_verify_attestation.py",
        "test_boundaries_envelope.py",
    )),
    "ingest": Target("registry/ingest.py", (
        "test_registry_ingest_rules.py", "test_registry_verification_cache.py", "test_conformance_vectors.py",
        "test_boundaries_ingest.py",
    )),
    # The attack's deterministic cases and two of its random tables: every seed would cost minutes
    # per surviving mutant of the audit.
    "disclosure": Target("flowstats/disclosure.py", (
        "test_flowstats_attack.py::test_a_total_with_a_single_small_part_is_suppressed_with_it",
        "test_flowstats_attack.py::test_nothing_is_suppressed_when_every_statistic_reaches_k",
        "test_flowstats_attack.py::test_provisional_release_lists_only_cells_that_reached_k",
        "test_flowstats_attack.py::test_no_suppressed_statistic_can_be_recovered_from_the_final_release[0]",
        "test_flowstats_attack.py::test_no_suppressed_statistic_can_be_recovered_from_the_final_release[1]",
        "test_flowstats_attack.py::test_provisional_values_do_not_help_recover_the_final_release[0]",
        "test_flowstats_releases.py", "test_boundaries_suppression.py",
    )),
    "privacy": Target("flowstats/privacy.py", (
        "test_flowstats_privacy.py", "test_flowstats_releases.py", "test_boundaries_privacy.py",
    )),
}

# What `mutmut show NAME` prints, for every name on stdin (mutmut 3.7's own functions).
SHOW_SURVIVORS = """
import sys
from mutmut.__main__ import Config, get_diff_for_mutant
Config.ensure_loaded()
for name in sys.stdin.read().split():
    print("# %s: survived" % name)
    print(get_diff_for_mutant(name))
    print()
"""
RESULT_LINE = re.compile(r"^\s*(?P<mutant>\S+): (?P<status>.+?)\s*$")


@dataclass(frozen=True)
class Score:
    module: str
    statuses: dict[str, str]  # mutant name -> mutmut's status

    def count(self, status: str) -> int:
        return sum(1 for s in self.statuses.values() if s == status)

    @property
    def total(self) -> int:
        return len(self.statuses)

    @property
    def killed(self) -> int:
        # A mutant that hangs the tests (timeout) is caught as surely as one that fails them.
        return self.count("killed") + self.count("timeout")

    @property
    def survivors(self) -> list[str]:
        return sorted(name for name, status in self.statuses.items() if status == "survived")

    @property
    def other(self) -> int:
        return self.total - self.killed - len(self.survivors)


def prepare(name: str, target: Target) -> tuple[Path, list[str]]:
    """Build the scratch copy for ``name``; return its directory and the test files not found."""
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    shutil.copytree(PACKAGE, work / "src" / "credverify", ignore=SCRATCH_IGNORE)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=SCRATCH_IGNORE)
    for extra in ALSO_COPY:
        shutil.copytree(ROOT / extra, work / extra, ignore=SCRATCH_IGNORE)
    pyproject = (ROOT / "pyproject.toml").read_text()
    if "[tool.mutmut]" in pyproject:
        raise SystemExit("pyproject.toml has a [tool.mutmut] section; this script writes mutmut's settings itself")
    # pytest's own settings (markers, timeout, warnings) come from the project's pyproject.toml.
    (work / "pyproject.toml").write_text(pyproject)
    present = [t for t in target.tests if (ROOT / "tests" / "unit" / t.partition("::")[0]).exists()]
    tests = ["tests/unit/" + t for t in present]
    missing = [t for t in target.tests if t not in present]
    settings = {
        "source_paths": ["src"],
        "only_mutate": ["src/credverify/" + target.source],
        "also_copy": list(ALSO_COPY),
        "pytest_add_cli_args_test_selection": tests,
        "pytest_add_cli_args": ["-p", "no:cacheprovider"],
        # mutmut waits 15 times a test's clean duration by default before it calls a mutant hung; a
        # mutant that loops the audit forever would then hold a core for minutes.
        "timeout_multiplier": ["3.0"],
        # The scratch copy is not a git checkout of its own: nothing to compare against.
        "use_git_change_detection": ["false"],
    }
    lines = ["[mutmut]"]
    for key, values in settings.items():
        lines.append("%s =" % key if len(values) > 1 else "%s = %s" % (key, values[0]))
        if len(values) > 1:
            lines.extend("    %s" % v for v in values)
    (work / "setup.cfg").write_text("\n".join(lines) + "\n")
    return work, missing


def run(name: str, target: Target, *, children: int) -> Score:
    work, missing = prepare(name, target)
    for test in missing:
        print("  %s: tests/unit/%s does not exist, left out" % (name, test))
    log = work / "mutmut.log"
    started = time.monotonic()
    print("  %s: mutating services/credverify/%s (log: %s)" % (name, target.source, log.relative_to(ROOT)),
          flush=True)
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    with log.open("w") as out:
        done = subprocess.run([sys.executable, "-m", "mutmut", "run", "--max-children", str(children)],
                              cwd=work, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit("mutmut failed on %s (exit %d); see %s" % (name, done.returncode, log))
    score = collect(name, work)
    print("  %s: %d mutants in %.0f s" % (name, score.total, time.monotonic() - started), flush=True)
    return score


def collect(name: str, work: Path) -> Score:
    """Read the results of the run in ``work``; write its survivors' diffs to survivors.diff there."""
    if not (work / "mutants").is_dir():
        raise SystemExit("no results of %s to report: %s holds no run" % (name, work))
    listing = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                             cwd=work, capture_output=True, text=True, check=True).stdout
    statuses = {m["mutant"]: m["status"] for line in listing.splitlines() if (m := RESULT_LINE.match(line))}
    if not statuses:
        raise SystemExit("mutmut made no mutants of %s; see %s" % (name, work / "mutmut.log"))
    score = Score(name, statuses)
    # One process for every diff: `mutmut show` per survivor costs seconds each.
    diffs = subprocess.run([sys.executable, "-c", SHOW_SURVIVORS], input="\n".join(score.survivors), cwd=work,
                           capture_output=True, text=True, check=False)
    (work / "survivors.diff").write_text(diffs.stdout if diffs.returncode == 0 else diffs.stderr)
    return score


def table(scores: list[Score]) -> str:
    rows = [("module", "mutants", "killed", "survived", "other", "score")]
    for s in scores:
        rows.append((s.module, str(s.total), str(s.killed), str(len(s.survivors)), str(s.other),
                     "%.1f%%" % (100.0 * s.killed / s.total)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(row, widths,
                                                                                                   strict=True)))
             for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--module", action="append", choices=sorted(TARGETS),
                        help="run only this module (repeatable); all of them by default")
    parser.add_argument("--max-children", type=int, default=DEFAULT_CHILDREN,
                        help="parallel test processes (default %(default)s)")
    parser.add_argument("--summary", type=Path, default=WORK / "summary.json",
                        help="where to write the per-module results as JSON (default %(default)s)")
    parser.add_argument("--no-run", action="store_true",
                        help="only report the results of the last run, from its scratch copies")
    args = parser.parse_args(argv)
    names = args.module or list(TARGETS)
    if args.no_run:
        scores = [collect(name, WORK / name) for name in names]
    else:
        scores = [run(name, TARGETS[name], children=args.max_children) for name in names]
    print()
    print(table(scores))
    print("'other': mutants no selected test reaches, or whose run mutmut found suspicious;")
    print("survivors, with their diffs: .mutation/<module>/survivors.diff")
    args.summary.parent.mkdir(parents=True, exist_ok=True)
    args.summary.write_text(json.dumps({
        s.module: {"mutants": s.total, "killed": s.killed, "survived": s.survivors,
                   "other": {n: st for n, st in s.statuses.items() if st not in ("killed", "timeout", "survived")}}
        for s in scores
    }, indent=2, sort_keys=True) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
