"""Fixtures of the end-to-end tests: one Chromium for the whole session (tests/e2e/browser.py)."""

from tests.e2e.browser import chromium

__all__ = ["chromium"]
