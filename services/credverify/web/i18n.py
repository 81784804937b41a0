"""Every string a person reads, by message id, in each language the pages speak.

English is the reference; a message missing from another language falls back to English (a test
checks that none is missing). The language is the visitor's choice (``?lang=fr``, kept in a cookie),
else the first of her browser's languages that the pages speak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from credverify.web.messages_en import MESSAGES as ENGLISH
from credverify.web.messages_fr import MESSAGES as FRENCH

CATALOGS: Mapping[str, Mapping[str, str]] = {"en": ENGLISH, "fr": FRENCH}
LANGUAGE_NAMES = {"en": "English", "fr": "Français"}
DEFAULT_LANGUAGE = "en"

Translate = Callable[..., str]


def translator(language: str) -> Translate:
    """Return t(message_id, default=None, **values) for ``language``. An unknown id without a default
    is a programming error (KeyError), caught by the tests rather than shown as a raw id to a person."""
    catalog = CATALOGS.get(language, ENGLISH)

    def t(message_id: str, default: str | None = None, **values: object) -> str:
        text = catalog.get(message_id) or ENGLISH.get(message_id)
        if text is None:
            if default is None:
                raise KeyError(message_id)
            return default  # a code newer than these pages (a reason the registry just learnt): shown as is
        return text.format(**values) if values else text

    return t


def negotiate(chosen: str | None, accept_language: str | None) -> str:
    """Return the language to speak: ``chosen`` when the pages speak it, else the best of the
    Accept-Language header (RFC 9110 section 12.5.4), else English."""
    if chosen in CATALOGS:
        return str(chosen)
    weighted: list[tuple[float, str]] = []
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        weighted.append((quality, tag.strip().lower().split("-")[0]))
    for _, language in sorted(weighted, key=lambda pair: -pair[0]):
        if language in CATALOGS:
            return language
    return DEFAULT_LANGUAGE
