"""How two spellings of a practitioner's name are compared: the registry judging claimed details and the
case officers' pages showing which details agree fold names the same way."""

from __future__ import annotations

import functools
import unicodedata

__all__ = ["NAME_CACHE_ENTRIES", "normalise_name"]

# Every Verify with claimed details normalises the attested and the claimed names; the same
# names come back call after call, and folding them is most of the cost of a judgement. Names
# reach it capped (MAX_NAME_CHARS, checked at the gRPC boundary and in the gate), so the cache
# holds at most NAME_CACHE_ENTRIES x 200 characters: a few MB.
NAME_CACHE_ENTRIES = 16_384


@functools.lru_cache(maxsize=NAME_CACHE_ENTRIES)
def normalise_name(name: str) -> str:
    """Fold case, diacritics, hyphens and spacing so 'NJERI-Wanjiku ' matches 'Njeri Wanjikú'."""
    decomposed = unicodedata.normalize("NFKD", name)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    spaced = "".join(" " if ch in "-'’.," else ch for ch in stripped)
    return " ".join(spaced.casefold().split())
