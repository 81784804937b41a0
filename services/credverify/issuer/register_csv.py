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
from typing import TextIO

from credverify.core.errors import InvalidInput
from credverify.core.parsing import parse_date, parse_kind, parse_status
from credverify.issuer.domain import IssueAttestation, build_attestation

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
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        yield RowError(1, "header", "not CSV: %s" % exc)
        return
    header = [name.strip() for name in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in header]
    unknown = [c for c in header if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if missing or unknown:
        yield RowError(1, "header", "missing column(s) %s; unknown column(s) %s; expected %s" % (
            missing or "none", unknown or "none", ", ".join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)))
        return
    reader.fieldnames = header
    seen: dict[str, int] = {}
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
        extra = values.get(None)
        if extra or any(v is None for v in values.values()):
            found = len(header) + len(extra) if extra else sum(v is not None for v in values.values())
            yield RowError(row, "row", "expected %d cells, found %d" % (len(header), found))
            continue
        cells = {k: (v or "").strip() for k, v in values.items() if k is not None}
        too_long = [k for k, v in cells.items() if len(v) > MAX_FIELD_CHARS]
        if too_long:
            yield RowError(row, too_long[0], "longer than %d characters" % MAX_FIELD_CHARS)
            continue
        try:
            command = _command(cells, issuer_id=issuer_id, jurisdiction=jurisdiction)
            build_attestation(command, now=_VALIDATION_CLOCK)
        except InvalidInput as exc:
            field, reason = _split_field(str(exc))
            yield RowError(row, _column_of(field), reason)
            continue
        number = command.local_number
        if number in seen:
            yield RowError(row, "credential_number", "%r appears on row %d already" % (number, seen[number]))
            continue
        seen[number] = row
        yield RegisterRow(row, command)


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
