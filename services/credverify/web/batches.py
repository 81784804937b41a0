"""A register export on its way from a registrar's upload to the hub: checked row by row first,
published once (a second click on "publish" finds it publishing or published, never publishes it
twice), row by row through the issuer service, with its progress for the page.

Kept in memory only, for the registrar who uploaded it, and dropped after a working day: the
practitioners' details and credentials never reach the pages' disk.
"""

from __future__ import annotations

import datetime as dt
import enum
import io
import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import grpc

from credverify.core.issuing import build_attestation
from credverify.core.register_csv import RegisterRow, RowError, read_register
from credverify.v1 import attestation_pb2, issuer_pb2

logger = logging.getLogger(__name__)

KEPT_FOR = dt.timedelta(hours=10)
# The pages take a council's daily work; a whole register export of 100,000 rows goes through
# `credverify issuer bulk`, which streams.
MAX_ROWS = 20_000


class NotUtf8(Exception):
    """The upload is not UTF-8 text."""


class State(enum.StrEnum):
    CHECKED = "checked"
    PUBLISHING = "publishing"
    DONE = "done"


@dataclass
class RowOutcome:
    row: int
    credential_id: str
    published: bool = False
    unchanged: bool = False
    version: int = 0
    failure: str = ""  # what the issuer service answered, without personal data
    credential: str = ""  # the practitioner's SD-JWT VC, when the service returned one


@dataclass
class Batch:
    batch_id: str
    owner: str
    issuer_id: str
    filename: str
    rows: list[RegisterRow]
    errors: list[RowError]
    created: dt.datetime
    state: State = State.CHECKED
    outcomes: list[RowOutcome] = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.outcomes)

    @property
    def failed(self) -> int:
        return sum(1 for o in self.outcomes if o.failure)

    def credentials(self) -> list[tuple[str, str]]:
        return [(o.credential_id, o.credential) for o in self.outcomes if o.credential]


def decode_upload(data: bytes) -> str:
    """Return the text of a CSV upload (UTF-8, with or without a byte-order mark). Raises NotUtf8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotUtf8("byte %d is not UTF-8" % exc.start) from exc


def check(text: str, *, issuer_id: str, jurisdiction: str) -> tuple[list[RegisterRow], list[RowError]]:
    """Validate a register export with `credverify issuer bulk`'s rules; at most MAX_ROWS rows."""
    rows: list[RegisterRow] = []
    errors: list[RowError] = []
    for result in read_register(io.StringIO(text, newline=""), issuer_id=issuer_id, jurisdiction=jurisdiction):
        (rows if isinstance(result, RegisterRow) else errors).append(result)  # type: ignore[arg-type]
        if len(rows) + len(errors) > MAX_ROWS:
            errors.append(RowError(result.row, "row", "more than %d rows: use credverify issuer bulk" % MAX_ROWS))
            break
    return rows, errors


def draft_of(row: RegisterRow, now: dt.datetime) -> attestation_pb2.Attestation:
    """The attestation to ask the issuer service for: it sets the version and the time itself."""
    att = build_attestation(row.command, now=now)
    att.ClearField("version")
    att.ClearField("issued_at")
    return att


class Batches:
    def __init__(self, now: Callable[[], dt.datetime]) -> None:
        self._batches: dict[str, Batch] = {}
        self._lock = threading.Lock()
        self._now = now

    def add(self, *, owner: str, issuer_id: str, filename: str, rows: list[RegisterRow],
            errors: list[RowError]) -> Batch:
        batch = Batch(secrets.token_urlsafe(12), owner, issuer_id, filename, rows, errors, self._now())
        with self._lock:
            cutoff = self._now() - KEPT_FOR
            for stale in [b for b, kept in self._batches.items() if kept.created < cutoff]:
                del self._batches[stale]
            self._batches[batch.batch_id] = batch
        return batch

    def get(self, batch_id: str, owner: str) -> Batch | None:
        with self._lock:
            batch = self._batches.get(batch_id)
        return batch if batch is not None and batch.owner == owner else None

    def start_publishing(self, batch: Batch) -> bool:
        """Move ``batch`` to PUBLISHING; False when it was already publishing or published (a double
        click, a second tab): the caller then only shows its progress."""
        with self._lock:
            if batch.state is not State.CHECKED:
                return False
            batch.state = State.PUBLISHING
            return True


def publish(batch: Batch, issue: Callable[[attestation_pb2.Attestation], issuer_pb2.IssueResponse],
            now: Callable[[], dt.datetime]) -> None:
    """Publish every valid row of ``batch`` in order through ``issue``; runs in its own thread."""
    try:
        for row in batch.rows:
            batch.outcomes.append(_publish_row(row, issue, now))
    finally:
        batch.state = State.DONE
        logger.info("batch %s of %s: %d rows, %d failed", batch.batch_id[:6], batch.issuer_id, batch.done,
                    batch.failed)


def _publish_row(row: RegisterRow, issue: Callable[[attestation_pb2.Attestation], issuer_pb2.IssueResponse],
                 now: Callable[[], dt.datetime]) -> RowOutcome:
    outcome = RowOutcome(row.row, row.command.credential_id)
    try:
        answer = issue(draft_of(row, now()))
    except grpc.RpcError as exc:
        outcome.failure = "%s: %s" % (exc.code().name, (exc.details() or "")[:200])
        logger.warning("row %d not published: %s", row.row, outcome.failure)
        return outcome
    outcome.published = answer.delivery.confirmed
    outcome.unchanged = answer.unchanged
    outcome.version = answer.version
    outcome.credential = answer.credential
    if not answer.delivery.confirmed:
        outcome.failure = "UNCONFIRMED"
    return outcome
