"""The Jinja2 environment of a folder of HTML templates, as the pages (``web``) and the statistics portal
(``portal``) both render them: every value escaped, an undefined name an error rather than an empty
string, and block tags that leave no blank lines behind."""

from __future__ import annotations

import functools
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

__all__ = ["templates_in"]


@functools.cache
def templates_in(folder: Path) -> Environment:
    """Return the environment loading templates from ``folder``, built on first use and shared after
    (Jinja2 then keeps each template compiled)."""
    return Environment(loader=FileSystemLoader(folder), undefined=StrictUndefined,
                       autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True)
