"""The WHO Health Workforce Support and Safeguards List, shipped as data: which origins are flagged.

The data file (``data/who-safeguards-list-2023.csv``, source and edition in
its header and in ``data/README.md``) is read once; the list itself is a plain
value, so the domain stays free of I/O. A new edition is a new data file.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources

from credverify.core.errors import ConfigurationError

DATA_PACKAGE = "credverify.flowstats"
SAFEGUARDS_FILE = "data/who-safeguards-list-2023.csv"
# Header lines every edition's file must carry: they travel with each statistic.
METADATA_FIELDS = ("list", "edition", "source")


@dataclass(frozen=True)
class SafeguardsList:
    """One edition of the list: the countries on it and where it comes from."""

    name: str  # e.g. "who-hwssl"
    edition: str  # e.g. "2023"
    source: str  # the publication, with its ISBN
    countries: frozenset[str]  # ISO 3166-1 alpha-2

    @property
    def label(self) -> str:
        return "%s:%s" % (self.name, self.edition)

    def __contains__(self, country: object) -> bool:
        return country in self.countries


def _metadata(lines: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in lines:
        if line.startswith("#") and ":" in line:
            name, _, value = line[1:].partition(":")
            if name.strip() in METADATA_FIELDS:
                found[name.strip()] = value.strip()
    missing = [name for name in METADATA_FIELDS if not found.get(name)]
    if missing:
        raise ConfigurationError("%s: expected header lines '# %s: ...', found none" % (SAFEGUARDS_FILE, missing[0]))
    return found


def load_safeguards_list(resource: str = SAFEGUARDS_FILE) -> SafeguardsList:
    """Return the shipped list. Raises ConfigurationError for a damaged data file."""
    text = resources.files(DATA_PACKAGE).joinpath(resource).read_text(encoding="utf-8")
    lines = text.splitlines()
    metadata = _metadata(lines)
    rows = csv.DictReader(line for line in lines if not line.startswith("#"))
    try:
        countries = frozenset(row["iso_alpha2"].strip().upper() for row in rows)
    except KeyError as exc:
        raise ConfigurationError("%s: expected column %s" % (resource, exc)) from exc
    if not countries or any(len(code) != 2 or not code.isalpha() for code in countries):
        raise ConfigurationError("%s: expected ISO 3166-1 alpha-2 codes, found %s" % (resource, sorted(countries)))
    return SafeguardsList(name=metadata["list"], edition=metadata["edition"], source=metadata["source"],
                          countries=countries)
