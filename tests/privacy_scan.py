"""Look for a practitioner's details in bytes that should not hold them, in every encoding a careless
writer might use: as typed, case-folded, UTF-16, hex, base64 and base64url (at each of the three
alignments a value can have inside a longer base64 text)."""

from __future__ import annotations

import base64
from collections.abc import Iterable


def spellings(value: str) -> set[bytes]:
    text = value.encode("utf-8")
    found = {text, text.lower(), text.upper(), value.encode("utf-16-le"), value.encode("utf-16-be"),
             text.hex().encode(), text.hex().upper().encode()}
    for pad in range(3):
        # Inside a longer base64 text a value starts at any of three byte offsets; keep only the
        # characters that depend on the value alone.
        shifted = base64.b64encode(b"\0" * pad + text)
        middle = shifted[(pad * 4 + 2) // 3:len(shifted) - 3]
        found |= {middle, middle.replace(b"+", b"-").replace(b"/", b"_")}
    return {s for s in found if len(s) >= 4}


def personal_data_in(raw: bytes, values: Iterable[str]) -> list[str]:
    """Return the values of ``values`` whose any spelling occurs in ``raw``."""
    return [value for value in values if any(spelling in raw for spelling in spellings(value))]
