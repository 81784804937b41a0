"""Verifications a case officer may still act on (download the evidence, record the registration),
kept in memory only, for an hour, by an unguessable reference: the applicant's presentation is never
written to disk by the pages."""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

# Long enough to finish a case at the desk; the presentation should not outlive it.
KEPT_FOR = dt.timedelta(hours=1)
# Bounds the memory a busy office uses: each entry is a few kilobytes.
MAX_KEPT = 2_000


@dataclass(frozen=True)
class Kept:
    owner: str  # the username of the case officer who verified
    country: str
    credential_id: str
    presentation: str
    evidence_json: bytes  # what the officer downloads for the case file
    verified: bool
    family_name: str
    given_names: str
    kept_at: dt.datetime


class EvidenceShelf:
    def __init__(self) -> None:
        self._items: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def keep(self, item: Kept) -> str:
        reference = secrets.token_urlsafe(18)
        with self._lock:
            self._items[reference] = item
            while len(self._items) > MAX_KEPT:
                self._items.popitem(last=False)
        return reference

    def get(self, reference: str, *, owner: str, now: dt.datetime) -> Kept | None:
        """The kept verification of ``owner``; None when unknown, expired or someone else's."""
        with self._lock:
            for stale in [r for r, item in self._items.items() if now - item.kept_at > KEPT_FOR]:
                del self._items[stale]
            item = self._items.get(reference)
        return item if item is not None and item.owner == owner else None
