"""A council's register export (CSV) turned into orders to issue, row by row, with errors that name
the row, the field and the reason. The layout is documented in README.md ("Bulk issue from a register
export") and shown by examples/register-export.csv.

Rows are numbered as a spreadsheet shows them: the header is row 1, the first practitioner row 2.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

from credverify.core.errors import InvalidInput
from credverify.core.issuing import IssueAttestation, build_attestation, without_personal_value
from credverify.core.parsing import parse_date, parse_kind, parse_status

REQUIRED_COLUMNS = (
    "credential_number", "kind", "practitioner_number", "family_name", "given_names", "date_of_birth",
    "country_of_training", "isco", "status", "valid_from", "valid_until",
)
OPTIONAL_COLUMNS = ("status_reason", "conditions", "institution", "programme", "award_date")
# Several conditions share one cell, separated by this (a semicolon is common inside condition text).
CONDITION_SEPARATOR = "|"
# Far above any real register field; a longer cell is a broken export, not a name.
MAX_FIELD_CHARS = 10_000
# A fixed instant to validate with: validation needs a clock for the version, never its value.
_VALIDATION_CLOCK = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class RowError:
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        return "row %d: %s: %s" % (self.row, self.field, self.reason)


@dataclass(frozen=True)
class RegisterRow:
    row: int
    command: IssueAttestation


def _split_field(message: str) -> tuple[str, str]:
    field, sep, reason = message.partition(": ")
    return (field, reason) if sep and " " not in field else ("row", message)


def read_register(handle: TextIO, *, issuer_id: str, jurisdiction: str) -> Iterator[RegisterRow | RowError]:
    """Yield one RegisterRow (a validated order) or RowError per data row of the CSV in ``handle``.

    A header without a required column yields a single RowError for row 1 and nothing else.
    A credential number seen on an earlier row is an error on the later row.
    """
    reader = csv.DictReader(handle, strict=True)
    header = _read_header(reader)
    if isinstance(header, RowError):
        yield header
        return
    reader.fieldnames = header
    seen: dict[str, int] = {}
    for numbered in _numbered_rows(reader):
        if isinstance(numbered, RowError):
            yield numbered
            continue
        row, values = numbered
        result = _read_row(row, values, len(header), issuer_id=issuer_id, jurisdiction=jurisdiction)
        if isinstance(result, RegisterRow):
            result = _unless_seen(result, seen)
        yield result


def _read_header(reader: csv.DictReader[str]) -> list[str] | RowError:
    """Return the column names, stripped, or the RowError for row 1 when they are not the layout."""
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        return RowError(1, "header", "not CSV: %s" % exc)
    header = [name.strip() for name in header]
    return _layout_error(header) or header


def _layout_error(header: list[str]) -> RowError | None:
    """Return the RowError for a header that lacks a required column or has an unknown one."""
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if not (missing or unknown):
        return None
    return RowError(1, "header", "missing column(s) %s; unknown column(s) %s; expected %s" % (
        missing or "none", unknown or "none", ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)))


def _numbered_rows(reader: csv.DictReader[str]) -> Iterator[tuple[int, dict[Any, Any]] | RowError]:
    """Yield each data row with its spreadsheet row number; a row that is not CSV ends the file
    with a RowError."""
    row = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield RowError(row + 1, "row", "not valid CSV: %s" % exc)
            return
        row += 1
        yield row, values


def _read_row(row: int, values: dict[Any, Any], width: int, *, issuer_id: str,
              jurisdiction: str) -> RegisterRow | RowError:
    """Return the validated order on one data row, or the first thing wrong with it."""
    cells = _cells(row, values, width)
    if isinstance(cells, RowError):
        return cells
    try:
        command = _command(cells, issuer_id=issuer_id, jurisdiction=jurisdiction)
        build_attestation(command, now=_VALIDATION_CLOCK)
    except InvalidInput as exc:  # a clerk's terminal and logs see the column, not the person's data
        field, reason = _split_field(str(without_personal_value(exc)))
        return RowError(row, _column_of(field), reason)
    return RegisterRow(row, command)


def _cells(row: int, values: dict[Any, Any], width: int) -> dict[str, str] | RowError:
    """Return the row's cells by column, stripped, or a RowError when it has the wrong number of
    cells or one too long to be a register field."""
    count_error = _cell_count_error(row, values, width)
    if count_error is not None:
        return count_error
    cells = {k: (v or "").strip() for k, v in values.items() if k is not None}
    too_long = [k for k, v in cells.items() if len(v) > MAX_FIELD_CHARS]
    if too_long:
        return RowError(row, too_long[0], "longer than %d characters" % MAX_FIELD_CHARS)
    return cells


def _cell_count_error(row: int, values: dict[Any, Any], width: int) -> RowError | None:
    """Return the RowError for a row with more or fewer cells than the header has columns."""
    extra = values.get(None)  # csv.DictReader files surplus cells under the key None
    if not extra and all(v is not None for v in values.values()):
        return None
    found = width + len(extra) if extra else sum(v is not None for v in values.values())
    return RowError(row, "row", "expected %d cells, found %d" % (width, found))


def _unless_seen(register_row: RegisterRow, seen: dict[str, int]) -> RegisterRow | RowError:
    """Return ``register_row``, noting its credential number in ``seen``, or a RowError when an
    earlier row had that number."""
    number = register_row.command.local_number
    if number in seen:
        return RowError(register_row.row, "credential_number",
                        "%r appears on row %d already" % (number, seen[number]))
    seen[number] = register_row.row
    return register_row


# Attestation field names in validation messages, mapped back to the CSV columns a clerk sees.
_COLUMN_OF = {
    "local_number": "credential_number",
    "credential_id": "credential_number",
    "profession_isco": "isco",
    "subject.practitioner_number": "practitioner_number",
    "subject.family_name": "family_name",
    "subject.given_names": "given_names",
    "subject.date_of_birth": "date_of_birth",
    "subject.country_of_training": "country_of_training",
    "diploma.institution": "institution",
    "diploma.programme": "programme",
    "diploma.award_date": "award_date",
}


def _column_of(field: str) -> str:
    if field.startswith("conditions["):
        return "conditions"
    return _COLUMN_OF.get(field, field)


def _command(cells: dict[str, str], *, issuer_id: str, jurisdiction: str) -> IssueAttestation:
    dob = parse_date("date_of_birth", cells["date_of_birth"])
    if dob is None:
        raise InvalidInput("date_of_birth: missing")
    conditions = tuple(c.strip() for c in cells.get("conditions", "").split(CONDITION_SEPARATOR) if c.strip())
    return IssueAttestation(
        issuer_id=issuer_id,
        jurisdiction=jurisdiction,
        local_number=cells["credential_number"],
        kind=parse_kind(cells["kind"]),
        practitioner_number=cells["practitioner_number"],
        family_name=cells["family_name"],
        given_names=cells["given_names"],
        date_of_birth=dob,
        country_of_training=cells["country_of_training"].upper(),
        profession_isco=cells["isco"],
        status=parse_status(cells["status"]),
        status_reason=cells.get("status_reason", ""),
        conditions=conditions,
        valid_from=parse_date("valid_from", cells["valid_from"]),
        valid_until=parse_date("valid_until", cells["valid_until"]),
        institution=cells.get("institution", ""),
        programme=cells.get("programme", ""),
        award_date=parse_date("award_date", cells.get("award_date")),
    )
