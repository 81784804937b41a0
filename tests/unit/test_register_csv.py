"""Reading a council's register export: every error names its row and field."""

from __future__ import annotations

import io
from pathlib import Path

from credverify.core.register_csv import REQUIRED_COLUMNS, RegisterRow, RowError, read_register

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "register-export.csv"
HEADER = ",".join(REQUIRED_COLUMNS)
GOOD = "30001,LICENCE,NCK-30001,Achieng,Faith,1995-02-03,KE,2221,ACTIVE,2024-01-01,2027-01-01"


def read(text: str) -> list[RegisterRow | RowError]:
    return list(read_register(io.StringIO(text), issuer_id="KE-NCK", jurisdiction="KE"))


def errors(text: str) -> list[str]:
    return [str(item) for item in read(text) if isinstance(item, RowError)]


def test_the_example_in_the_repository_is_valid() -> None:
    with EXAMPLE.open(newline="", encoding="utf-8") as handle:
        items = list(read_register(handle, issuer_id="KE-NCK", jurisdiction="KE"))
    assert [i for i in items if isinstance(i, RowError)] == []
    kinds = {i.command.kind for i in items if isinstance(i, RegisterRow)}
    assert len(kinds) == 3  # licence, diploma and good standing


def test_rows_are_numbered_as_a_spreadsheet_shows_them() -> None:
    text = "\n".join([HEADER, GOOD, GOOD.replace("30001", "30002").replace("2221", "9999"), GOOD.replace(
        "30001", "30003").replace("1995-02-03", "1995-02-30")])
    assert errors(text) == [
        "row 3: isco: expected an ISCO-08 health unit group (e.g. 2221 nursing professionals), found '9999'",
        "row 4: date_of_birth: expected a date YYYY-MM-DD",  # a birth date is not repeated back
    ]


def test_an_error_about_a_persons_details_names_the_column_never_the_value() -> None:
    text = "\n".join([HEADER, GOOD.replace("Achieng", "Achi\x07eng"), GOOD.replace("30001", "30002").replace(
        "1995-02-03", "03/02/1995"), GOOD.replace("30001", "30003").replace(",KE,2221", ",Kenya,2221")])
    reported = errors(text)
    assert [e.split(":")[1].strip() for e in reported] == ["family_name", "date_of_birth", "country_of_training"]
    for value in ("Achi", "03/02/1995", "Kenya"):
        assert not any(value in e for e in reported), reported


def test_a_credential_number_twice_is_an_error_on_the_later_row() -> None:
    assert errors("\n".join([HEADER, GOOD, GOOD])) == ["row 3: credential_number: '30001' appears on row 2 already"]


def test_a_missing_column_stops_at_the_header() -> None:
    header = HEADER.replace(",isco", "")
    result = errors("\n".join([header, GOOD]))
    assert len(result) == 1 and result[0].startswith("row 1: header: missing column(s) ['isco']")


def test_a_row_with_too_few_or_too_many_cells_is_reported() -> None:
    assert errors("\n".join([HEADER, GOOD + ",extra", GOOD.rsplit(",", 1)[0]])) == [
        "row 2: row: expected 11 cells, found 12",
        "row 3: row: expected 11 cells, found 10",
    ]


def test_an_unknown_status_and_kind_name_their_column() -> None:
    assert errors("\n".join([HEADER, GOOD.replace("ACTIVE", "ACTIV"), GOOD.replace("30001,LICENCE", "30002,PERMIT")
                             ])) == [
        "row 2: status: expected ACTIVE, SUSPENDED, REVOKED, LAPSED or ACTIVE_WITH_CONDITIONS, found 'ACTIV'",
        "row 3: kind: expected LICENCE, DIPLOMA or GOOD_STANDING, found 'PERMIT'",
    ]


def test_a_diploma_row_without_its_award_date_names_the_column() -> None:
    header = HEADER + ",institution,programme,award_date"
    row = GOOD.replace("LICENCE", "DIPLOMA") + ",Kenya Medical Training College,Diploma in Nursing,"
    assert errors("\n".join([header, row])) == ["row 2: award_date: missing (required for a DIPLOMA)"]
