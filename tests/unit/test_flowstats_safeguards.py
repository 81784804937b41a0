"""The WHO Health Workforce Support and Safeguards List: the shipped data, and the flags and series it gives."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from importlib import resources

import pycountry
import pytest

from credverify.flowstats.export import to_csv
from credverify.flowstats.regions import load_m49
from credverify.flowstats.releases import ReleasePolicy, build_release
from credverify.flowstats.safeguards import SAFEGUARDS_FILE, load_safeguards_list
from credverify.flowstats.tables import MoveCell
from credverify.v1 import moves_pb2

# WHO's release of the 2023 list: 55 countries, 37 in the African Region, 8 in the Western Pacific,
# 6 in the Eastern Mediterranean, 3 in South-East Asia, 1 in the Americas.
EXPECTED_REGIONS = {"AFRO": 37, "WPRO": 8, "EMRO": 6, "SEARO": 3, "AMRO": 1}


def shipped_rows() -> list[dict[str, str]]:
    """The data file read as plain CSV, independently of the loader."""
    text = resources.files("credverify.flowstats").joinpath(SAFEGUARDS_FILE).read_text(encoding="utf-8")
    return list(csv.DictReader(line for line in text.splitlines() if not line.startswith("#")))


def test_the_shipped_list_is_the_2023_edition_of_55_countries_by_who_region() -> None:
    rows = shipped_rows()
    assert len(rows) == len({row["iso_alpha2"] for row in rows}) == 55
    assert Counter(row["who_region"] for row in rows) == EXPECTED_REGIONS
    for row in rows:
        assert pycountry.countries.get(alpha_2=row["iso_alpha2"]) is not None, row
    listed = load_safeguards_list()
    assert listed.countries == {row["iso_alpha2"] for row in rows}
    assert (listed.name, listed.edition, listed.label) == ("who-hwssl", "2023", "who-hwssl:2023")
    assert "9789240069787" in listed.source


@pytest.mark.parametrize(("country", "listed"), [
    ("NG", True), ("GH", True), ("NP", True), ("BD", True), ("HT", True), ("TV", True), ("ZW", True),
    ("KE", False), ("IN", False), ("PH", False), ("LK", False), ("GB", False), ("RO", False),
])
def test_known_members_and_non_members(country: str, listed: bool) -> None:
    assert (country in load_safeguards_list()) is listed


def final_release() -> moves_pb2.WindowReleases:
    regions = load_m49()
    policy = ReleasePolicy(k=5, regions=regions, grace=dt.timedelta(days=7), provisional_interval=dt.timedelta(hours=1),
                           partitions=1)
    cells = Counter({MoveCell("NG", "GB", "nurses", False): 20, MoveCell("GH", "GB", "nurses", False): 9,
                     MoveCell("KE", "GB", "nurses", False): 30, MoveCell("IN", "GB", "doctors", False): 12,
                     MoveCell("NP", "IE", "nurses", False): 7, MoveCell("PH", "IE", "nurses", False): 40})
    part = moves_pb2.WindowPart(period="2026-10", partition=0, final=True, counted=sum(cells.values()), cells=[
        moves_pb2.FlowCellCount(origin_country=c.origin, destination_country=c.destination,
                                profession_group=c.profession, returning=c.returning, count=n)
        for c, n in cells.items()])
    released = build_release("2026-10", {0: part}, moves_pb2.WindowReleases(period="2026-10"), policy, final=True,
                             now=dt.datetime(2026, 11, 9, tzinfo=dt.UTC))
    assert released is not None
    return released


def test_the_flags_of_every_statistic_match_the_shipped_list() -> None:
    listed = {row["iso_alpha2"] for row in shipped_rows()}
    released = final_release()
    flagged = [s for s in released.latest if s.safeguards_list]
    assert flagged, "flows from Nigeria, Ghana and Nepal should be flagged"
    for stat in released.latest:
        expected = stat.origin_country in listed or stat.origin_country == "_SSL"
        assert stat.safeguards_list is expected, (stat.origin_country, stat.destination_country, stat.profession_group)
        assert stat.parameters["safeguards_list"] == "who-hwssl:2023"
    rows = list(csv.DictReader(io.StringIO(to_csv(released.latest))))
    assert {row["ORIGIN"] for row in rows if row["Safeguards List"] == "yes"} == {"NG", "GH", "NP", "_SSL"}


def test_flows_from_listed_origins_are_their_own_series() -> None:
    by_key = {(s.measure, s.origin_country, s.destination_country, s.profession_group): s
              for s in final_release().latest}
    assert by_key[("moves", "_SSL", "GB", "nurses")].value == 29  # Nigeria 20 + Ghana 9, not Kenya
    assert by_key[("moves", "_SSL", "_T", "_T")].value == 36  # and Nepal's 7 to Ireland
    assert by_key[("moves", "_SSL", "IE", "_T")].value == 7
    assert ("moves", "_SSL", "GB", "doctors") not in by_key  # India is not on the list
