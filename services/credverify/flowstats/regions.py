"""The public classification of origins: UN M49 regions (intra- or inter-regional moves) and the WHO
Health Workforce Support and Safeguards List, both shipped as data.

The data files (``data/un-m49-regions.csv``, ``data/who-safeguards-list-2023.csv``, sources named in
their headers and in ``data/README.md``) are read once; the classification itself is a plain
mapping, so the domain stays free of I/O.
"""

from __future__ import annotations

import csv
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from credverify.core.errors import ConfigurationError
from credverify.flowstats.safeguards import SafeguardsList, load_safeguards_list

DATA_PACKAGE = "credverify.flowstats"
M49_FILE = "data/un-m49-regions.csv"
M49_NAME = "un-m49"
LEVEL_COLUMNS = {
    "region": "region_code",
    "sub-region": "sub_region_code",
    "intermediate-region": "intermediate_region_code",
}
DEFAULT_LEVEL = "region"


class Scope(enum.Enum):
    INTRA = "intra"
    INTER = "inter"


@dataclass(frozen=True)
class RegionClassification:
    """Which region each country is in, at one level of one classification, and which countries are on
    the safeguards list (None: no list, no safeguards series)."""

    name: str  # e.g. "un-m49"
    level: str  # e.g. "region"
    region_of: Mapping[str, str]  # ISO 3166-1 alpha-2 -> region code
    safeguards: SafeguardsList | None = None

    def on_safeguards_list(self, country: str) -> bool:
        return self.safeguards is not None and country in self.safeguards

    @property
    def label(self) -> str:
        return "%s:%s" % (self.name, self.level)

    def scope(self, origin: str, destination: str) -> Scope | None:
        """Return INTRA when both countries are in one region, INTER when not, None when either has none."""
        origin_region = self.region_of.get(origin)
        destination_region = self.region_of.get(destination)
        if not origin_region or not destination_region:
            return None
        return Scope.INTRA if origin_region == destination_region else Scope.INTER


def load_m49(level: str = DEFAULT_LEVEL) -> RegionClassification:
    """Return the UN M49 classification at ``level`` (region, sub-region, intermediate-region), with the
    shipped WHO safeguards list.

    At the intermediate level, countries without an intermediate region keep their
    sub-region, as the UN Statistics Division's own groupings do. Raises
    ConfigurationError for an unknown level or a damaged data file."""
    if level not in LEVEL_COLUMNS:
        raise ConfigurationError(
            "regions level: expected one of %s, found %r" % (", ".join(LEVEL_COLUMNS), level)
        )
    text = resources.files(DATA_PACKAGE).joinpath(M49_FILE).read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    region_of: dict[str, str] = {}
    for row in rows:
        try:
            code = row[LEVEL_COLUMNS[level]]
            if level == "intermediate-region" and not code:
                code = row["sub_region_code"]
            region_of[row["iso_alpha2"]] = code
        except KeyError as exc:
            raise ConfigurationError("%s: expected column %s, found %s" % (M49_FILE, exc, sorted(row))) from exc
    if len(region_of) < 200:
        raise ConfigurationError("%s: expected about 250 countries, found %d" % (M49_FILE, len(region_of)))
    return RegionClassification(name=M49_NAME, level=level, region_of=region_of, safeguards=load_safeguards_list())
